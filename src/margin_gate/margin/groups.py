"""Running sums of the pending legs on one group, and each side scenario's effect from them.

A group (futures symbol, margin pair, loaned asset) holds its pending legs, each priced once
against the group's current reference price (futures: mark; margin pair: index ratio): its
fill price and what a full fill does (futures: the equity term of `fills.futures_equity`;
margin: `fills.margin_flows`). Per (side, position side, capped) the group keeps exact sums
(`EXACT`, so they never depend on arrival order and a removal leaves no residue) of those
terms. A side scenario ("all BUY-side pending legs fill", design point 5) is then a handful of
operations whatever the number of legs:

- futures: within one position side, capped legs (reduceOnly, closePosition, hedge closes) fill
  first, then the rest. Capped legs fill in full unless together they exceed the position they
  oppose (`Σ qty ≤ |position|`), so their terms add up; otherwise (or with a closePosition leg)
  only they are filled one by one, in order-key order (O(capped legs of that position side)).
  Uncapped legs always fill in full: equity `Σ terms`, position `+ Σ qty`. MM is re-bracketed
  on the resulting amounts.
- margin pair: a scenario spends one asset and receives the other. With only borrowing
  (MARGIN_BUY, AUTO_BORROW_REPAY) or only non-borrowing spends, the loan is
  `max(Σ spent − free, 0)`, and with both it is 0 when `Σ spent ≤ free`; repays pay
  `min(Σ repaying proceeds, owed)`, interest first. Mixed spends beyond the free balance
  depend on the order and are filled leg by leg (`effects.group_effect`).
- loan: borrows add up; repays pay `min(Σ amounts, owed)` (everything owed with an amount-less
  repay).

The candidate's legs (a projection) are filled one by one where the naive order puts them.
Every result equals `effects.group_effect` over the same legs in the naive order, Decimal for
Decimal: both add the same per-leg terms exactly and round once (`ENGINE_CONTEXT.plus`); the
only quantities summed in decimal128 are futures position amounts (sums of order quantities,
exact below 34 significant digits). Legs without a sum form — a pricing error, a negative
quantity, an amount-less uncapped futures leg, a reduce-only margin leg — make their scenario
fall back to `group_effect` (O(legs on that side)). Repricing (a mark or index tick) is
O(legs in the group).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic
from typing import TypeVar

from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import EXACT
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.effects import EMPTY
from margin_gate.margin.effects import Effect
from margin_gate.margin.effects import FuturesState
from margin_gate.margin.effects import RiskView
from margin_gate.margin.effects import balances_delta
from margin_gate.margin.effects import futures_delta
from margin_gate.margin.effects import group_effect
from margin_gate.margin.effects import rescore
from margin_gate.margin.fills import BORROWS
from margin_gate.margin.fills import REPAYS
from margin_gate.margin.fills import apply_loan_leg
from margin_gate.margin.fills import apply_margin_leg
from margin_gate.margin.fills import fill_price
from margin_gate.margin.fills import fill_quantity
from margin_gate.margin.fills import futures_equity
from margin_gate.margin.fills import margin_flows
from margin_gate.margin.fills import round_balance
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.legs import capped_first
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import PositionSide
from margin_gate.margin.unimmr import amounts_mm

__all__ = [
    "FuturesGroup",
    "Group",
    "LoanGroup",
    "MarginGroup",
    "Pricing",
    "scenario",
    "worst_cached",
    "worst_sides",
]

_add = EXACT.add
_sub = EXACT.subtract
_plus = ENGINE_CONTEXT.plus
POSITION_SIDES: tuple[PositionSide, ...] = ("BOTH", "LONG", "SHORT")


@dataclass(frozen=True, slots=True)
class Pricing:
    """Static pricing facts of a futures symbol or margin pair (fixed per `AccountRisk`)."""

    instrument: Instrument
    fee: Decimal  # taker rate
    slip_buy: Decimal  # effective market slippage (fills.effective_slippage), BUY side
    slip_sell: Decimal
    inverse: Decimal | None  # CM contract size; None for UM and margin pairs

    def slip(self, buy: bool) -> Decimal:
        return self.slip_buy if buy else self.slip_sell


def _sort_key(entry: _Entry) -> tuple[str, int]:
    return entry.order, entry.index


class _Entry:
    """One pending leg of a group: its order key, its index in the order, the leg."""

    __slots__ = ("buy", "index", "leg", "order")
    leg: Leg

    def __init__(self, order: str, index: int, leg: Leg) -> None:
        self.order = order
        self.index = index
        self.leg = leg
        self.buy = leg.side == "BUY"


_E = TypeVar("_E", bound=_Entry)


class _GroupBase(Generic[_E]):
    """Entries by order; subclasses keep the sums."""

    __slots__ = ("by_order", "cache", "key", "n_buy", "n_sell")

    def __init__(self, key: GroupKey) -> None:
        self.key = key
        self.by_order: dict[str, list[_E]] = {}
        self.n_buy = 0
        self.n_sell = 0
        # each side's pending-only scenario [SELL, BUY], until its legs or inputs change
        self.cache: list[Effect | None] = [None, None]

    def invalidate(self) -> None:
        """The group's inputs (position, mark, balances, reference) changed."""
        self.cache = [None, None]

    def __len__(self) -> int:
        return self.n_buy + self.n_sell

    def count(self, buy: bool | None = None, exclude: str | None = None) -> int:
        """Pending legs (on one side, or both), without order `exclude`."""
        n = len(self) if buy is None else (self.n_buy if buy else self.n_sell)
        for x in self._excluded(exclude):
            n -= buy is None or x.buy == buy
        return n

    def legs(self, buy: bool | None = None, exclude: str | None = None) -> list[Leg]:
        """Pending legs in the naive order (order key, then position in the order)."""
        found = [
            x
            for k, xs in self.by_order.items()
            if k != exclude
            for x in xs
            if buy is None or x.buy == buy
        ]
        return [x.leg for x in sorted(found, key=_sort_key)]

    def _excluded(self, exclude: str | None) -> list[_E]:
        return [] if exclude is None else self.by_order.get(exclude, [])

    def _track(self, entries: list[_E], sign: int) -> None:
        for x in entries:
            if x.buy:
                self.n_buy += sign
            else:
                self.n_sell += sign
            self.cache[x.buy] = None


# -- futures --


class _FuturesEntry(_Entry):
    """A futures leg priced at the group's mark: fill price and full-fill equity term (None
    when the leg has no sum form: amount-less, negative quantity, or pricing failed)."""

    __slots__ = ("capped", "price", "ps", "qty", "term")
    leg: OrderLeg

    def __init__(self, order: str, index: int, leg: OrderLeg) -> None:
        super().__init__(order, index, leg)
        self.ps = leg.position_side
        self.capped = leg.capped
        self.qty = leg.quantity
        self.price: Decimal | None = None
        self.term: Decimal | None = None


class _Bucket:
    """Legs of one (side, position side, capped) and the exact sums of their quantities and
    equity terms (legs with a term only; `n_odd` counts the others)."""

    __slots__ = ("entries", "n_odd", "qty", "term")

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], _FuturesEntry] = {}
        self.qty = ZERO
        self.term = ZERO
        self.n_odd = 0

    def add(self, x: _FuturesEntry, sign: int) -> None:
        if x.term is None or x.qty is None:
            self.n_odd += sign
        elif sign > 0:
            self.qty = _add(self.qty, x.qty)
            self.term = _add(self.term, x.term)
        else:
            self.qty = _sub(self.qty, x.qty)
            self.term = _sub(self.term, x.term)

    def resum(self) -> None:
        self.qty = self.term = ZERO
        self.n_odd = 0
        for x in self.entries.values():
            self.add(x, 1)


class _Position:
    """Direction sums of one (side, position side): Σ quantities, amount-less legs, legs
    without reduceOnly (for `direction`)."""

    __slots__ = ("n", "n_none", "n_plain", "qty")

    def __init__(self) -> None:
        self.n = 0
        self.qty = ZERO
        self.n_none = 0
        self.n_plain = 0

    def add(self, leg: OrderLeg, sign: int) -> None:
        self.n += sign
        if leg.quantity is None:
            self.n_none += sign
        else:
            self.qty = _add(self.qty, leg.quantity) if sign > 0 else _sub(self.qty, leg.quantity)
        if not leg.reduce_only:
            self.n_plain += sign


class FuturesGroup(_GroupBase[_FuturesEntry]):
    """The pending legs of one futures symbol, priced at `mark`."""

    __slots__ = ("buckets", "mark", "positions", "pricing", "sides")

    def __init__(self, key: GroupKey, pricing: Pricing, mark: Decimal) -> None:
        super().__init__(key)
        self.pricing = pricing
        self.mark = mark
        self.buckets: dict[tuple[bool, PositionSide, bool], _Bucket] = {}
        self.positions: dict[tuple[bool, PositionSide], _Position] = {}
        self.sides: tuple[set[PositionSide], set[PositionSide]] = (set(), set())  # [SELL, BUY]

    def add(
        self,
        order: str,
        legs: Sequence[tuple[int, Leg]],
        prices: Sequence[Decimal | None] | None = None,
    ) -> None:
        """Add order `order`'s legs (index in the order, leg), priced now, or from `prices`
        (the legs' fill prices at this mark, e.g. from the projection's `Candidate`)."""
        entries: list[_FuturesEntry] = []
        for j, (index, leg) in enumerate(legs):
            assert isinstance(leg, OrderLeg)
            x = _FuturesEntry(order, index, leg)
            self._price(x, None if prices is None else prices[j])
            bucket = self.buckets.get((x.buy, x.ps, x.capped))
            if bucket is None:
                bucket = self.buckets[(x.buy, x.ps, x.capped)] = _Bucket()
            bucket.entries[(order, index)] = x
            bucket.add(x, 1)
            side = self.positions.get((x.buy, x.ps))
            if side is None:
                side = self.positions[(x.buy, x.ps)] = _Position()
                self.sides[x.buy].add(x.ps)
            side.add(leg, 1)
            entries.append(x)
        self.by_order[order] = entries
        self._track(entries, 1)

    def remove(self, order: str) -> None:
        entries = self.by_order.pop(order, [])
        for x in entries:
            bucket = self.buckets[(x.buy, x.ps, x.capped)]
            del bucket.entries[(order, x.index)]
            if bucket.entries:
                bucket.add(x, -1)
            else:
                del self.buckets[(x.buy, x.ps, x.capped)]
            side = self.positions[(x.buy, x.ps)]
            side.add(x.leg, -1)
            if not side.n:
                del self.positions[(x.buy, x.ps)]
                self.sides[x.buy].discard(x.ps)
        self._track(entries, -1)

    def plain_regular(self, buy: bool) -> bool:
        """Whether every uncapped leg on this side has a sum form (then where a new uncapped
        leg sits in the fill order does not matter)."""
        return not any(
            b.n_odd for (b_buy, _, capped), b in self.buckets.items() if b_buy == buy and not capped
        )

    def reprice(self, mark: Decimal) -> None:
        """Re-price every leg at a new mark (O(legs))."""
        self.invalidate()
        self.mark = mark
        for bucket in self.buckets.values():
            for x in bucket.entries.values():
                self._price(x)
            bucket.resum()

    def _price(self, x: _FuturesEntry, price: Decimal | None = None) -> None:
        p = self.pricing
        x.price = x.term = None
        try:
            x.price = fill_price(x.leg, self.mark, p.slip(x.buy)) if price is None else price
            if x.qty is not None and x.qty >= ZERO:
                x.term = futures_equity(x.buy, x.qty, x.price, self.mark, p.inverse, p.fee)[0]
        except ArithmeticError:  # the naive fill raises it again, if the leg ever fills
            x.price = x.term = None

    def fill(
        self, buy: bool, ps: PositionSide, capped: bool, amount: Decimal, exclude: str | None
    ) -> tuple[Decimal, Decimal] | None:
        """(amount after, Σ equity terms) of the pending (side, position side, capped)
        legs filling from `amount`; None when they have no sum form (fall back)."""
        bucket = self.buckets.get((buy, ps, capped))
        if bucket is None:
            return amount, ZERO
        n, qty, term, odd = len(bucket.entries), bucket.qty, bucket.term, bucket.n_odd
        for x in self._excluded(exclude):
            if x.buy == buy and x.ps == ps and x.capped == capped:
                n -= 1
                if x.term is None or x.qty is None:
                    odd -= 1
                else:
                    qty, term = _sub(qty, x.qty), _sub(term, x.term)
        if n == 0:
            return amount, ZERO
        if capped:
            if not (amount < ZERO if buy else amount > ZERO):
                return amount, ZERO  # nothing to reduce: every capped leg fills nothing
            if odd or qty > abs(amount):
                return self._one_by_one(bucket, amount, exclude)
        elif odd:
            return None
        return (amount + qty if buy else amount - qty), term

    def _one_by_one(
        self, bucket: _Bucket, amount: Decimal, exclude: str | None
    ) -> tuple[Decimal, Decimal]:
        total = ZERO
        for x in sorted(bucket.entries.values(), key=_sort_key):
            if x.order != exclude:
                amount, term = fill_leg(self.pricing, self.mark, x.leg, amount, x.price)
                total = _add(total, term)
        return amount, total

    def direction(
        self, buy: bool, ps: PositionSide, exclude: str | None
    ) -> tuple[int, Decimal, int, int]:
        """(legs, Σ quantities, amount-less legs, legs without reduceOnly) pending on (side,
        position side), without order `exclude`."""
        side = self.positions.get((buy, ps))
        if side is None:
            return 0, ZERO, 0, 0
        n, qty, none, plain = side.n, side.qty, side.n_none, side.n_plain
        for x in self._excluded(exclude):
            leg = x.leg
            if x.buy == buy and x.ps == ps:
                n -= 1
                none -= leg.quantity is None
                plain -= not leg.reduce_only
                if leg.quantity is not None:
                    qty = _sub(qty, leg.quantity)
        return n, qty, none, plain


def fill_leg(
    pricing: Pricing, mark: Decimal, leg: OrderLeg, amount: Decimal, price: Decimal | None = None
) -> tuple[Decimal, Decimal]:
    """(amount after, equity term) of one futures leg filling on a position of `amount`,
    exactly as `fills.apply_futures_leg` fills it (`price`: the leg's cached fill price)."""
    buy = leg.side == "BUY"
    qty = fill_quantity(leg, amount)
    if qty == ZERO:
        return amount, ZERO
    if price is None:
        price = fill_price(leg, mark, pricing.slip(buy))
    term = futures_equity(buy, qty, price, mark, pricing.inverse, pricing.fee)[0]
    return (amount + qty if buy else amount - qty), term


class Candidate:
    """A projection's futures legs on one symbol, priced once for both scenarios and split
    per position side into capped and uncapped legs (each with its fill price, None when
    pricing fails: `fill_leg` prices it again, and raises, if the leg fills)."""

    __slots__ = ("by_side", "mark", "one_side", "prices")

    def __init__(self, pricing: Pricing, mark: Decimal, legs: Sequence[Leg]) -> None:
        self.mark = mark
        self.prices: list[Decimal | None] = []
        self.by_side: dict[PositionSide, tuple[list[_Priced], list[_Priced]]] = {}
        # the side (True: BUY) of legs that are all plain — uncapped, with a priced,
        # non-negative quantity — and on one side; else None
        self.one_side: bool | None = None
        sides = set()
        plain = True
        for leg in legs:
            assert isinstance(leg, OrderLeg)
            buy = leg.side == "BUY"
            try:
                price: Decimal | None = fill_price(leg, mark, pricing.slip(buy))
            except ArithmeticError:
                price = None
            self.prices.append(price)
            pair = self.by_side.get(leg.position_side)
            if pair is None:
                pair = self.by_side[leg.position_side] = ([], [])
            capped = leg.capped
            pair[0 if capped else 1].append((leg, price))
            qty = leg.quantity
            plain = plain and not capped and qty is not None and qty >= ZERO and price is not None
            sides.add(buy)
        if plain and len(sides) == 1:
            self.one_side = sides.pop()


_Priced = tuple[OrderLeg, Decimal | None]
_NONE: tuple[list[_Priced], list[_Priced]] = ([], [])
_NO_LEGS = Candidate(None, ZERO, ())  # type: ignore[arg-type]  # no legs: pricing unused; read-only


def _futures_scenario(
    view: RiskView,
    state: FuturesState,
    pricing: Pricing,
    group: FuturesGroup | None,
    buy: bool | None,
    candidate: Candidate,
    exclude: str | None,
) -> Effect | None:
    positions = state.positions
    mark = state.mark
    by_side = candidate.by_side
    touched: Iterable[PositionSide] = by_side
    if group is not None and buy is not None:
        touched = group.sides[buy].union(by_side) if by_side else group.sides[buy]
    else:
        group = buy = None
    total = ZERO
    amounts: dict[PositionSide, Decimal] = {}
    for ps in touched:
        pos = positions.get(ps)
        amount = ZERO if pos is None else pos.amount
        capped, plain = by_side.get(ps, _NONE)
        # capped legs first (pending, then the candidate's), then the uncapped ones
        if group is not None and buy is not None:
            filled = group.fill(buy, ps, True, amount, exclude)
            assert filled is not None  # capped legs always fill (one by one when they bind)
            amount, term = filled
            total = _add(total, term)
        for leg, price in capped:
            amount, term = fill_leg(pricing, mark, leg, amount, price)
            total = _add(total, term)
        if group is not None and buy is not None:
            filled = group.fill(buy, ps, False, amount, exclude)
            if filled is None:
                return None
            amount, term = filled
            total = _add(total, term)
        for leg, price in plain:
            amount, term = fill_leg(pricing, mark, leg, amount, price)
            total = _add(total, term)
        amounts[ps] = amount
    if len(amounts) == 1 and (not positions or positions.keys() == amounts.keys()):
        final = list(amounts.values())
    else:
        final = [
            amounts[ps] if ps in amounts else positions[ps].amount
            for ps in sorted(positions.keys() | amounts.keys())
        ]
    mm = amounts_mm(pricing.instrument, final, mark, state.table, view.settings)
    return futures_delta(view, pricing.instrument, _plus(total), mm - state.mm)


# -- margin pairs --


class _MarginEntry(_Entry):
    """A margin leg priced at the group's reference: (paid, received net of fee), and for
    `direction` the most it can bring in (None: unbounded)."""

    __slots__ = ("borrows", "odd", "paid", "proceeds", "received", "repays")
    leg: OrderLeg

    def __init__(self, order: str, index: int, leg: OrderLeg) -> None:
        super().__init__(order, index, leg)
        self.borrows = leg.side_effect in BORROWS
        self.repays = leg.side_effect in REPAYS
        self.paid = self.received = ZERO
        self.proceeds: Decimal | None = ZERO
        self.odd = False


class _Side:
    """Exact sums of one side's margin legs (legs without a sum form count in `n_odd`)."""

    __slots__ = (
        "infinite",
        "n_borrow",
        "n_odd",
        "n_plain",
        "n_repay",
        "paid_borrow",
        "paid_plain",
        "proceeds",
        "received",
        "received_repay",
    )

    def __init__(self) -> None:
        self.n_odd = self.n_borrow = self.n_plain = self.n_repay = 0
        self.paid_borrow = self.paid_plain = self.received = self.received_repay = ZERO
        self.proceeds = ZERO  # Σ finite most-proceeds of repaying legs (direction)
        self.infinite = 0  # repaying legs with unbounded proceeds

    def add(self, x: _MarginEntry, sign: int) -> None:
        op = _add if sign > 0 else _sub
        if x.odd:
            self.n_odd += sign
            return
        if x.borrows:
            self.n_borrow += sign
            self.paid_borrow = op(self.paid_borrow, x.paid)
        else:
            self.n_plain += sign
            self.paid_plain = op(self.paid_plain, x.paid)
        self.received = op(self.received, x.received)
        if x.repays:
            self.n_repay += sign
            self.received_repay = op(self.received_repay, x.received)
            if x.proceeds is None:
                self.infinite += sign
            else:
                self.proceeds = op(self.proceeds, x.proceeds)

    def minus(self, entries: Iterable[_MarginEntry]) -> _Side:
        """A copy without `entries` (a modify's replaced order)."""
        out = _Side()
        for name in _Side.__slots__:
            setattr(out, name, getattr(self, name))
        for x in entries:
            out.add(x, -1)
        return out


class MarginGroup(_GroupBase[_MarginEntry]):
    """The pending legs of one margin pair, priced at the index ratio `reference`."""

    __slots__ = ("pricing", "reference", "sides")

    def __init__(self, key: GroupKey, pricing: Pricing, reference: Decimal) -> None:
        super().__init__(key)
        self.pricing = pricing
        self.reference = reference
        self.sides = {True: _Side(), False: _Side()}

    def add(self, order: str, legs: Iterable[tuple[int, Leg]]) -> None:
        entries: list[_MarginEntry] = []
        for index, leg in legs:
            assert isinstance(leg, OrderLeg)
            x = _MarginEntry(order, index, leg)
            self._price(x)
            self.sides[x.buy].add(x, 1)
            entries.append(x)
        self.by_order[order] = entries
        self._track(entries, 1)

    def remove(self, order: str) -> None:
        entries = self.by_order.pop(order, [])
        for x in entries:
            self.sides[x.buy].add(x, -1)
        self._track(entries, -1)

    def reprice(self, reference: Decimal) -> None:
        """Re-price every leg at a new index ratio (O(legs))."""
        self.invalidate()
        self.reference = reference
        self.sides = {True: _Side(), False: _Side()}
        for entries in self.by_order.values():
            for x in entries:
                self._price(x)
                self.sides[x.buy].add(x, 1)

    def _price(self, x: _MarginEntry) -> None:
        leg = x.leg
        p = self.pricing
        slip = p.slip(x.buy)
        try:
            _, x.paid, _, x.received = margin_flows(leg, p.instrument, self.reference, slip, p.fee)
            x.proceeds = most_proceeds(leg, self.reference, slip)
            x.odd = leg.capped or x.paid < ZERO or x.received < ZERO
        except ArithmeticError:
            x.odd = True

    def side(self, buy: bool, exclude: str | None) -> _Side:
        """One side's sums without order `exclude`."""
        side = self.sides[buy]
        excluded = [x for x in self._excluded(exclude) if x.buy == buy]
        return side.minus(excluded) if excluded else side

    def apply(self, balances: dict[str, Balance], buy: bool, exclude: str | None) -> bool:
        """Fill the pending legs of one side into `balances` (exact); False when they have no
        sum form (the caller falls back to filling them one by one)."""
        s = self.side(buy, exclude)
        if s.n_odd:
            return False
        base, quote = self.pricing.instrument.base_asset, self.pricing.instrument.quote_asset
        pay, recv = (quote, base) if buy else (base, quote)
        b = balances[pay]
        paid = _add(s.paid_borrow, s.paid_plain)
        free = max(_sub(b.cross_margin_asset, b.cross_margin_locked), ZERO)
        loan = ZERO
        if s.n_borrow and not s.n_plain:
            loan = max(_sub(s.paid_borrow, free), ZERO)
        elif s.n_borrow and paid > free:
            return False  # mixed spends beyond the free balance: the order decides the loan
        balances[pay] = Balance(
            pay,
            _sub(_add(b.cross_margin_asset, loan), paid),
            _add(b.cross_margin_borrowed, loan),
            b.cross_margin_interest,
            b.um_wallet,
            b.cm_wallet,
            b.cross_margin_locked,
        )
        balances[recv] = _received(balances[recv], s)
        return True


def _received(b: Balance, s: _Side) -> Balance:
    """`b` after receiving Σ received, the repaying part paying the loan (interest first)."""
    repaid = interest = ZERO
    if s.n_repay:
        owed = _add(b.cross_margin_interest, b.cross_margin_borrowed)
        repaid = min(s.received_repay, owed)
        interest = min(repaid, b.cross_margin_interest)
    return Balance(
        b.asset,
        _sub(_add(b.cross_margin_asset, s.received), repaid),
        _sub(b.cross_margin_borrowed, _sub(repaid, interest)),
        _sub(b.cross_margin_interest, interest),
        b.um_wallet,
        b.cm_wallet,
        b.cross_margin_locked,
    )


def most_proceeds(leg: OrderLeg, reference: Decimal, slippage: Decimal) -> Decimal | None:
    """The most a margin leg can bring in (None: unbounded), as `direction` bounds it: BUY
    with quantity `qty`, with quoteOrderQty unbounded; SELL with quantity `qty × max(limit,
    reference) × (1 + s)`, with quoteOrderQty the quote amount."""
    if leg.side == "BUY":
        return None if leg.quantity is None else leg.quantity
    if leg.quantity is None:
        return leg.quote_quantity or ZERO
    high = max(reference if leg.price is None else leg.price, reference) * (1 + slippage)
    return leg.quantity * high


def _margin_scenario(
    view: RiskView,
    pricing: Pricing,
    group: MarginGroup | None,
    buy: bool | None,
    candidate: Sequence[Leg],
    exclude: str | None,
) -> Effect | None:
    if any(isinstance(leg, OrderLeg) and leg.capped for leg in candidate):
        return None  # a reduce-only margin leg would fill first: keep the naive order
    instrument = pricing.instrument
    assets = (instrument.base_asset, instrument.quote_asset)
    before = {a: view.balance(a) for a in assets}
    after = dict(before)
    if group is not None and buy is not None and not group.apply(after, buy, exclude):
        return None
    if candidate:
        reference = view.index_price(assets[0]) / view.index_price(assets[1])
        for leg in candidate:
            assert isinstance(leg, OrderLeg)
            slip = pricing.slip(leg.side == "BUY")
            apply_margin_leg(after, leg, instrument, reference, slip, pricing.fee)
    return balances_delta(view, before, {a: round_balance(after[a]) for a in assets})


# -- loans --


class _LoanEntry(_Entry):
    __slots__ = ()
    leg: LoanLeg


class LoanGroup(_GroupBase[_LoanEntry]):
    """The pending manual borrows (BUY side) and repays (SELL side) of one asset."""

    __slots__ = ("borrowed", "n_all", "n_odd", "repaid")

    def __init__(self, key: GroupKey) -> None:
        super().__init__(key)
        self.borrowed = ZERO  # Σ borrow amounts
        self.repaid = ZERO  # Σ repay amounts (the amount-less ones aside)
        self.n_all = 0  # repays of everything owed (amount None)
        self.n_odd = 0  # negative repay amounts: no sum form

    def add(self, order: str, legs: Iterable[tuple[int, Leg]]) -> None:
        entries: list[_LoanEntry] = []
        for index, leg in legs:
            assert isinstance(leg, LoanLeg)
            x = _LoanEntry(order, index, leg)
            self._sum(x, 1)
            entries.append(x)
        self.by_order[order] = entries
        self._track(entries, 1)

    def remove(self, order: str) -> None:
        entries = self.by_order.pop(order, [])
        for x in entries:
            self._sum(x, -1)
        self._track(entries, -1)

    def _sum(self, x: _LoanEntry, sign: int) -> None:
        leg = x.leg
        op = _add if sign > 0 else _sub
        amount = leg.amount
        if leg.action == "BORROW":
            self.borrowed = op(self.borrowed, amount or ZERO)
        elif amount is None:
            self.n_all += sign
        else:
            self.n_odd += sign * (amount < ZERO)
            self.repaid = op(self.repaid, amount)

    def totals(self, exclude: str | None) -> tuple[Decimal, Decimal, int, int]:
        """(Σ borrows, Σ repay amounts, repay-everything legs, negative repays) without
        `exclude`."""
        borrowed, repaid, n_all, n_odd = self.borrowed, self.repaid, self.n_all, self.n_odd
        for x in self._excluded(exclude):
            leg = x.leg
            if leg.action == "BORROW":
                borrowed = _sub(borrowed, leg.amount or ZERO)
            elif leg.amount is None:
                n_all -= 1
            else:
                n_odd -= leg.amount < ZERO
                repaid = _sub(repaid, leg.amount)
        return borrowed, repaid, n_all, n_odd

    def apply(self, balances: dict[str, Balance], buy: bool, exclude: str | None) -> bool:
        """Fill one side's pending borrows or repays into `balances` (exact); False when a
        repay has no sum form."""
        asset = self.key[1]
        b = balances[asset]
        borrowed, repaid, n_all, n_odd = self.totals(exclude)
        if buy:
            balances[asset] = Balance(
                asset,
                _add(b.cross_margin_asset, borrowed),
                _add(b.cross_margin_borrowed, borrowed),
                b.cross_margin_interest,
                b.um_wallet,
                b.cm_wallet,
                b.cross_margin_locked,
            )
            return True
        if n_odd:
            return False
        owed = _add(b.cross_margin_interest, b.cross_margin_borrowed)
        paid = owed if n_all else min(repaid, owed)
        interest = min(paid, b.cross_margin_interest)
        balances[asset] = Balance(
            asset,
            _sub(b.cross_margin_asset, paid),
            _sub(b.cross_margin_borrowed, _sub(paid, interest)),
            _sub(b.cross_margin_interest, interest),
            b.um_wallet,
            b.cm_wallet,
            b.cross_margin_locked,
        )
        return True


def _loan_scenario(
    view: RiskView,
    group: LoanGroup | None,
    buy: bool | None,
    candidate: Sequence[Leg],
    exclude: str | None,
    asset: str,
) -> Effect | None:
    before = {asset: view.balance(asset)}
    after = dict(before)
    if group is not None and buy is not None and not group.apply(after, buy, exclude):
        return None
    for leg in candidate:
        assert isinstance(leg, LoanLeg)
        apply_loan_leg(after, leg)
    return balances_delta(view, before, {asset: round_balance(after[asset])})


# -- scenarios --

Group = FuturesGroup | MarginGroup | LoanGroup


def scenario(
    view: RiskView,
    key: GroupKey,
    pricing: Pricing | None,
    group: Group | None,
    buy: bool | None,
    candidate: Sequence[Leg] = (),
    exclude: str | None = None,
    prepared: Candidate | None = None,
) -> Effect:
    """One side's pending legs (`buy`; None: none of them) and `candidate` filled on group
    `key`: `effects.group_effect(view, key, capped_first([*side legs, *candidate]))`.
    `prepared`: the candidate futures legs, priced (`Candidate`), if already done."""
    if group is None or buy is None or not group.count(buy, exclude):
        group = buy = None
        if not candidate:
            return EMPTY
    found: Effect | None
    if key[0] == "LOAN":
        assert group is None or isinstance(group, LoanGroup)
        found = _loan_scenario(view, group, buy, candidate, exclude, key[1])
    elif key[0] == "MARGIN":
        assert pricing is not None
        assert group is None or isinstance(group, MarginGroup)
        found = _margin_scenario(view, pricing, group, buy, candidate, exclude)
    else:
        assert pricing is not None
        assert group is None or isinstance(group, FuturesGroup)
        state = view.futures_state(key[1])
        if prepared is None:
            prepared = Candidate(pricing, state.mark, candidate) if candidate else _NO_LEGS
        found = _futures_scenario(view, state, pricing, group, buy, prepared, exclude)
    if found is not None:
        return found
    pending = [] if group is None or buy is None else group.legs(buy, exclude)
    return group_effect(view, key, capped_first([*pending, *candidate]))


def worst_sides(
    view: RiskView,
    key: GroupKey,
    pricing: Pricing | None,
    group: Group | None,
    candidate: Sequence[Leg] = (),
    exclude: str | None = None,
) -> tuple[Effect, Effect | None, Effect | None, Candidate | None]:
    """`pending.worst_effect` from the group's sums: the worse (lower score) of the BUY-side
    and SELL-side scenarios, `candidate` filling in both; without pending legs, the candidate
    alone. Also returned: the two scenario effects it chose from (None without pending legs,
    and without a candidate), and the priced futures candidate (if any). Without a candidate,
    each side's scenario is cached in the group until its legs or inputs change (its score is
    re-read at the current index prices)."""
    if group is None or not group.count(None, exclude):
        prepared = None
        if pricing is not None and key[0] in ("UM", "CM") and candidate:
            prepared = Candidate(pricing, view.futures_state(key[1]).mark, candidate)
        alone = scenario(view, key, pricing, None, None, candidate, None, prepared)
        return alone, None, None, prepared
    if not candidate and exclude is None:
        return worst_cached(view, key, pricing, group), None, None, None
    prepared = None
    if isinstance(group, FuturesGroup):
        prepared = Candidate(group.pricing, group.mark, candidate)
    buy = scenario(view, key, pricing, group, True, candidate, exclude, prepared)
    sell = scenario(view, key, pricing, group, False, candidate, exclude, prepared)
    return (buy if buy.score <= sell.score else sell), buy, sell, prepared


def worst_cached(view: RiskView, key: GroupKey, pricing: Pricing | None, group: Group) -> Effect:
    """`worst_sides` of a group with pending legs, no candidate and no exclusion: the worse
    of its two cached side scenarios (computed when missing, re-scored at current prices)."""
    sides = []
    for buy in (True, False):
        effect = group.cache[buy]
        if effect is None:
            effect = group.cache[buy] = scenario(view, key, pricing, group, buy)
        else:
            score = rescore(view, effect)
            if score != effect.score:
                effect = effect._replace(score=score)
        sides.append(effect)
    buy_side, sell_side = sides
    return buy_side if buy_side.score <= sell_side.score else sell_side
