"""`AccountRisk`: the uniMMR aggregate of one account, kept as running totals.

Built once per snapshot in O(positions + open orders); afterwards every change touches only
its own symbol and assets (design point 3):
- per futures symbol: positions, mark, uPnL and MM in the margin asset;
- per asset: balance-part equity, Σ uPnL, UM/CM/loan MM, the pending-order deltas, and the
  asset's USD terms with and without pending orders;
- totals: Σ of the per-asset USD terms, patched as `total − old term + new term`.
Pending orders (resting and in-flight) live in a `PendingBook`; each group's worst-side
effect is cached and recomputed when its legs, its symbol's position or mark, or (for margin
pairs and loans) its assets' balances or index prices change.

Mutable by design (the live-state layer calls the `update_*` methods on every stream event);
still pure: no I/O, no clock. Every public method runs under the engine's decimal context.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol
from typing import cast

from margin_gate.margin.aggregate import AssetState
from margin_gate.margin.aggregate import SymbolState
from margin_gate.margin.aggregate import Totals
from margin_gate.margin.brackets import BracketTable
from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import EXACT
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.effects import EMPTY
from margin_gate.margin.effects import Delta
from margin_gate.margin.effects import Effect
from margin_gate.margin.fills import effective_slippage
from margin_gate.margin.groups import Candidate
from margin_gate.margin.groups import FuturesGroup
from margin_gate.margin.groups import Group
from margin_gate.margin.groups import LoanGroup
from margin_gate.margin.groups import MarginGroup
from margin_gate.margin.groups import Pricing
from margin_gate.margin.groups import worst_cached
from margin_gate.margin.groups import worst_sides
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.model import Balance
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Position
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import SnapshotError
from margin_gate.margin.model import SymbolKey
from margin_gate.margin.pending import OrderRef
from margin_gate.margin.pending import PendingBook
from margin_gate.margin.pending import PendingOrder
from margin_gate.margin.pending import pending_from_open_order
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.margin.unimmr import ZERO_TERMS
from margin_gate.margin.unimmr import AssetRow
from margin_gate.margin.unimmr import Breakdown
from margin_gate.margin.unimmr import Terms
from margin_gate.margin.unimmr import asset_terms
from margin_gate.margin.unimmr import symbol_pnl_and_mm
from margin_gate.margin.unimmr import uni_mmr

__all__ = ["AccountRisk", "PendingHint", "Reuse", "RowInputs", "asset_row"]

_add = EXACT.add
_sub = EXACT.subtract

NO_PRICE = "no index price for asset {asset}"
NO_MARK = "no mark price for {symbol}"
NO_BRACKETS = "no brackets for {symbol}"
NO_INSTRUMENT = "no instrument for {key}"
DUPLICATE = "snapshot lists {what} {key} twice"


class AccountRisk:
    """Running uniMMR totals of one account plus its pending orders (see module doc)."""

    __slots__ = (
        "_assets",
        "_balance_groups",
        "_book",
        "_effects",
        "_groups",
        "_marks",
        "_open_loss",
        "_prices",
        "_pricing",
        "_projected",
        "_settings",
        "_snapshot",
        "_symbols",
        "_tables",
        "_totals",
        "_totals_p",
        "_version",
    )

    def __init__(self, snapshot: AccountSnapshot, settings: ProjectionSettings) -> None:
        """Use `from_snapshot`; this only sets up empty state."""
        self._snapshot = snapshot
        self._settings = settings
        self._marks = dict(snapshot.mark_prices)
        self._prices = dict(snapshot.index_prices)
        self._tables: dict[str, BracketTable] = {}
        self._symbols: dict[str, SymbolState] = {}
        self._assets: dict[str, AssetState] = {}
        self._open_loss = abs(snapshot.open_loss_usd)
        self._totals = Totals()  # without pending orders
        self._totals_p = Totals()  # with the pending orders' worst side
        self._book = PendingBook()
        self._groups: dict[GroupKey, Group] = {}  # per-group sums of the pending legs
        self._pricing: dict[GroupKey, Pricing] = {}  # static pricing facts, cached
        self._effects: dict[GroupKey, Effect] = {}
        self._balance_groups: dict[str, set[GroupKey]] = {}  # asset → margin/loan groups
        self._version = 0  # bumped by every change (Projection details check it)
        self._projected: PendingHint | None = None  # the last projection (add_pending reuses)

    # -- BUILD --

    @classmethod
    @engine_context
    def from_snapshot(
        cls, snapshot: AccountSnapshot, settings: ProjectionSettings | None = None
    ) -> AccountRisk:
        """Aggregate `snapshot` in O(positions + open orders). Sums run in sorted key order,
        so the result does not depend on the order of balances, positions or orders.
        Raises SnapshotError when a needed price, bracket table or instrument is missing."""
        risk = cls(snapshot, settings or ProjectionSettings())
        risk._load()
        return risk

    def _load(self) -> None:
        snap = self._snapshot
        for b in sorted(snap.balances, key=lambda b: b.asset):
            if b.asset in self._assets:
                raise SnapshotError(DUPLICATE.format(what="balance", key=b.asset))
            self._set_balance(self._asset(b.asset), b)
        by_symbol: dict[str, dict[PositionSide, Position]] = {}
        for p in snap.positions:
            legs = by_symbol.setdefault(p.symbol, {})
            if p.position_side in legs:
                raise SnapshotError(DUPLICATE.format(what="position", key=p.symbol))
            if p.amount != ZERO:
                legs[p.position_side] = p
        for symbol in sorted(by_symbol):
            if by_symbol[symbol]:
                self._set_positions(self.futures_state(symbol), by_symbol[symbol], refresh=False)
        if self._settings.include_resting_orders:
            for order in sorted(map(pending_from_open_order, snap.open_orders), key=_key):
                self._book.add(order)
                self._group_add(order, None)
            self._commit({k: self._worst(k) for k in self._book.group_keys()}, refresh=False)
        for name in sorted(self._assets):
            self._refresh(self._assets[name])

    # -- READ (also the `effects.RiskView` protocol) --

    @property
    def settings(self) -> ProjectionSettings:
        return self._settings

    @property
    def snapshot(self) -> AccountSnapshot:
        """The snapshot this aggregate was built from (static data; live values may differ)."""
        return self._snapshot

    @property
    def pending(self) -> PendingBook:
        """The pending orders; change them through `add_pending` / `remove_pending`."""
        return self._book

    def instrument(self, key: GroupKey) -> Instrument:
        """Static facts of (market, symbol); SnapshotError when unknown."""
        found = self._snapshot.instruments.get(cast(SymbolKey, key))
        if found is None:
            raise SnapshotError(NO_INSTRUMENT.format(key=key))
        return found

    def futures_state(self, symbol: str) -> SymbolState:
        """The symbol's live state, or a fresh flat one (not stored) when it has no position."""
        state = self._symbols.get(symbol)
        if state is not None:
            return state
        key = ("UM", symbol) if ("UM", symbol) in self._snapshot.instruments else ("CM", symbol)
        instrument = self.instrument(key)
        if symbol not in self._marks:
            raise SnapshotError(NO_MARK.format(symbol=symbol))
        return SymbolState(instrument, self._table(symbol), self._marks[symbol])

    def position(self, symbol: str, side: PositionSide) -> Position | None:
        """The live position of (symbol, positionSide), None when flat."""
        state = self._symbols.get(symbol)
        return None if state is None else state.positions.get(side)

    def positions(self) -> list[Position]:
        """Every open position, by symbol."""
        return [p for s in sorted(self._symbols) for p in self._symbols[s].positions.values()]

    def balance(self, asset: str) -> Balance:
        """The live balance of `asset` (all zero when unknown)."""
        found = self._assets.get(asset)
        return Balance(asset) if found is None else found.balance

    def mark_price(self, symbol: str) -> Decimal:
        """The live mark of a futures symbol; SnapshotError when unknown."""
        if symbol not in self._marks:
            raise SnapshotError(NO_MARK.format(symbol=symbol))
        return self._marks[symbol]

    def index_price(self, asset: str) -> Decimal:
        """The live index price of `asset` in USD; SnapshotError when unknown."""
        if asset not in self._prices:
            raise SnapshotError(NO_PRICE.format(asset=asset))
        return self._prices[asset]

    def loan_rate(self, asset: str) -> Decimal:
        """Margin-loan MM rate of `asset` (snapshot, else `default_loan_mm_rate`)."""
        return self._snapshot.loan_mm_rates.get(asset, self._settings.default_loan_mm_rate)

    def fee_rate(self, key: GroupKey) -> Decimal:
        """Taker fee of (market, symbol) (snapshot commission, else the default)."""
        found = self._snapshot.commissions.get(cast(SymbolKey, key))
        if found is not None:
            return found.taker
        s = self._settings
        return s.default_margin_taker_fee if key[0] == "MARGIN" else s.default_taker_fee

    def pending_legs(self, key: GroupKey, exclude: str | None = None) -> list[Leg]:
        """Legs pending on group `key`, without pending order `exclude` (O(legs), sorted)."""
        return self._book.legs(key, exclude)

    def pending_balance_legs(self, assets: Iterable[str], exclude: str | None = None) -> list[Leg]:
        """Legs of pending margin and loan groups touching any of `assets`, each group once."""
        keys: set[GroupKey] = set()
        for name in assets:
            keys |= self._balance_groups.get(name, set())
        return [leg for key in sorted(keys) for leg in self._book.legs(key, exclude)]

    def group(self, key: GroupKey) -> Group | None:
        """The running sums of the legs pending on group `key` (None or empty: none pending)."""
        return self._groups.get(key)

    def balance_groups(self, asset: str) -> list[Group]:
        """The pending margin-pair and loan groups touching `asset`."""
        return [self._groups[k] for k in sorted(self._balance_groups.get(asset, ()))]

    def pricing(self, key: GroupKey) -> Pricing:
        """Static pricing facts of a futures symbol or margin pair (cached)."""
        found = self._pricing.get(key)
        if found is None:
            instrument = self.instrument(key)
            s = self._settings
            found = self._pricing[key] = Pricing(
                instrument,
                self.fee_rate(key),
                effective_slippage(True, s.market_slippage, instrument),
                effective_slippage(False, s.market_slippage, instrument),
                instrument.contract_size if instrument.market == "CM" else None,
            )
        return found

    @property
    def open_loss_usd(self) -> Decimal:
        """|totalMarginOpenLoss| (USD), subtracted from the adjusted equity."""
        return self._open_loss

    @property
    def version(self) -> int:
        """Bumped by every change to the positions, balances, prices or pending orders."""
        return self._version

    def worst(
        self, key: GroupKey, candidate: Sequence[Leg] = (), exclude: str | None = None
    ) -> Effect:
        """The group's worst-side effect with `candidate` filling in both scenarios, without
        pending order `exclude` (`pending.worst_effect`, from the group's sums)."""
        return self.worst_sides(key, candidate, exclude)[0]

    def worst_sides(
        self, key: GroupKey, candidate: Sequence[Leg] = (), exclude: str | None = None
    ) -> tuple[Effect, Effect | None, Effect | None, Candidate | None]:
        """`worst`, the BUY-side and SELL-side effects it chose from, the priced candidate."""
        pricing = None if key[0] == "LOAN" else self.pricing(key)
        return worst_sides(self, key, pricing, self._groups.get(key), candidate, exclude)

    def remember(self, projection: PendingHint) -> None:
        """The projection `add_pending` may reuse (until the next change): see `add_pending`."""
        self._projected = projection

    def find_pending(self, ref: OrderRef) -> str | None:
        """The key of the pending order `ref` names (a modify's target), if any."""
        return self._book.find(ref)

    # -- TOTALS --

    @engine_context
    def uni_mmr(self, *, with_pending: bool = True) -> Decimal:
        """Current uniMMR; with the pending orders' worst case by default."""
        return self.current_uni_mmr(with_pending)

    @engine_context
    def current_uni_mmr(self, with_pending: bool) -> Decimal:
        """`uni_mmr` with a positional flag (the gateway's hot path; free when nested)."""
        t = (self._totals_p if with_pending else self._totals).values
        return uni_mmr(t[1] - self._open_loss, t[2] + t[3] + t[4])

    @engine_context
    def breakdown(self, *, with_pending: bool = False) -> Breakdown:
        """Totals and a row per asset (O(assets)); without pending orders by default, which
        is what the exchange itself reports (§1.7)."""
        rows = [
            self._row(a, a.inputs(with_pending), a.terms_p if with_pending else a.terms)
            for a in (self._assets[n] for n in sorted(self._assets))
        ]
        t = (self._totals_p if with_pending else self._totals).values
        return self.summarize(t, [r for r in rows if r is not None])

    def summarize(
        self, totals: list[Decimal], rows: list[AssetRow], open_loss: Decimal | None = None
    ) -> Breakdown:
        """A Breakdown from USD totals (E, adjusted, UM, CM, loan; exact sums, rounded here)
        and asset rows; `open_loss` defaults to the current one."""
        plus = ENGINE_CONTEXT.plus
        loss = self._open_loss if open_loss is None else open_loss
        adjusted = totals[1] - loss
        mm = totals[2] + totals[3] + totals[4]
        return Breakdown(
            plus(totals[0]),
            adjusted,
            loss,
            mm,
            plus(totals[2]),
            plus(totals[3]),
            plus(totals[4]),
            uni_mmr(adjusted, mm),
            tuple(rows),
        )

    def evaluate(self, effects: Mapping[GroupKey, Effect]) -> tuple[list[Decimal], list[RowInputs]]:
        """USD totals (with pending; exact) after replacing each group's cached pending effect
        by `effects[group]`, and what the touched assets' rows are made of (`asset_row`).
        Touches only those assets."""
        acc: dict[str, list[Decimal]] = {}
        cached = self._effects
        for key, effect in effects.items():
            _accumulate(acc, effect.deltas, True)
            old_effect = cached.get(key)
            if old_effect is not None:
                _accumulate(acc, old_effect.deltas, False)
        totals = list(self._totals_p.values)
        rows: list[RowInputs] = []
        for name in sorted(acc) if len(acc) > 1 else acc:
            a = self._assets.get(name)
            if a is None:
                a = AssetState(name, self._rate(name))
            base, extra = a.inputs_p, acc[name]
            inputs = [
                base[0] + extra[0],
                base[1] + extra[1],
                base[2] + extra[2],
                base[3] + extra[3],
            ]
            terms = self._terms(name, a.rate, inputs)
            old = a.terms_p
            totals[0] = _add(totals[0], _sub(terms[0], old[0]))
            totals[1] = _add(totals[1], _sub(terms[1], old[1]))
            totals[2] = _add(totals[2], _sub(terms[2], old[2]))
            totals[3] = _add(totals[3], _sub(terms[3], old[3]))
            totals[4] = _add(totals[4], _sub(terms[4], old[4]))
            if terms is not ZERO_TERMS:
                rows.append((name, inputs, terms, self._prices[name]))
        return totals, rows

    # -- UPDATES (each O(1) in other symbols and assets) --

    @engine_context
    def update_position(self, position: Position) -> None:
        """A position changed (ACCOUNT_UPDATE); amount 0 removes it."""
        self._version += 1
        state = self.futures_state(position.symbol)
        legs = dict(state.positions)
        if position.amount == ZERO:
            legs.pop(position.position_side, None)
        else:
            legs[position.position_side] = position
        self._set_positions(state, legs)

    @engine_context
    def update_mark_price(self, symbol: str, mark: Decimal) -> None:
        """A mark price tick (markPriceUpdate). Re-prices the symbol's pending legs."""
        self._version += 1
        self._marks[symbol] = mark
        key = self._futures_group(symbol)
        group = self._groups.get(key)
        if isinstance(group, FuturesGroup):
            group.reprice(mark)
        state = self._symbols.get(symbol)
        if state is not None:
            state.mark = mark
            self._set_positions(state, state.positions)
        elif group is not None:
            self._regroup({key})

    @engine_context
    def update_balance(self, balance: Balance) -> None:
        """One asset's balances changed (balanceUpdate, outboundAccountPosition, ...)."""
        self._version += 1
        a = self._asset(balance.asset)
        self._set_balance(a, balance)
        self._regroup(self._balance_groups.get(balance.asset, set()), invalidate=True)
        self._refresh(a)

    @engine_context
    def update_index_price(self, asset: str, price: Decimal) -> None:
        """An asset index price changed (USD per unit). Re-prices the margin pairs on it."""
        self._version += 1
        self._prices[asset] = price
        keys = {k for k in self._balance_groups.get(asset, set()) if k[0] == "MARGIN"}
        for key in keys:
            group = self._groups[key]
            assert isinstance(group, MarginGroup)
            group.reprice(self._reference(key))
        self._regroup(keys)
        if asset in self._assets:
            self._refresh(self._assets[asset])

    def update_open_loss(self, open_loss_usd: Decimal) -> None:
        """totalMarginOpenLoss (USD); counted as its absolute value (§1.3)."""
        self._version += 1
        self._open_loss = abs(open_loss_usd)

    @engine_context
    def add_pending(self, order: PendingOrder, projection: PendingHint | None = None) -> None:
        """Count `order` (resting or in flight) from now on: O(its legs), whatever else is
        pending on its groups. SnapshotError leaves it out.

        When `order` reserves the legs a projection just projected (`projection`, or the last
        `project()` on this account) and nothing changed since, the projection's prices and
        scenario are reused instead of recomputed (`Projection.reuse_for`); same result."""
        hint = self._projected if projection is None else projection
        self._projected = None
        reuse = None if hint is None else hint.reuse_for(self, order)
        self._version += 1
        keys = self._book.add(order)
        try:
            self._group_add(order, reuse)
            effects = {k: self._worst(k) for k in keys}
        except Exception:
            self._group_remove(order.key, keys)
            self._book.remove(order.key)
            raise
        self._commit(effects)

    @engine_context
    def remove_pending(self, key: str) -> None:
        """Forget pending order `key` (filled, cancelled, rejected or confirmed): O(its legs)."""
        self._version += 1
        keys = self._book.remove(key)
        self._group_remove(key, keys)
        self._regroup(keys)

    # -- INTERNALS --

    def _asset(self, name: str) -> AssetState:
        a = self._assets.get(name)
        if a is None:
            a = self._assets[name] = AssetState(name, self._rate(name))
        return a

    def _rate(self, name: str) -> CollateralRate:
        return self._snapshot.collateral_rates.get(name, self._settings.default_collateral_rate)

    def _table(self, symbol: str) -> BracketTable:
        table = self._tables.get(symbol)
        if table is None:
            if symbol not in self._snapshot.brackets:
                raise SnapshotError(NO_BRACKETS.format(symbol=symbol))
            table = self._tables[symbol] = BracketTable.of(symbol, self._snapshot.brackets[symbol])
        return table

    def _futures_group(self, symbol: str) -> GroupKey:
        return ("UM", symbol) if ("UM", symbol) in self._snapshot.instruments else ("CM", symbol)

    def _set_balance(self, a: AssetState, balance: Balance) -> None:
        a.set_balance(balance, self.loan_rate(a.name), self._settings.loan_mm_includes_interest)

    def _set_positions(
        self, state: SymbolState, legs: dict[PositionSide, Position], refresh: bool = True
    ) -> None:
        """Replace a symbol's positions; patch its asset's sums; refresh pending and terms."""
        legs = dict(sorted(legs.items()))  # fixed summation order (LONG, SHORT / BOTH)
        instrument = state.instrument
        symbol = instrument.symbol
        if legs:
            pnl, mm = symbol_pnl_and_mm(
                instrument, legs.values(), state.mark, state.table, self._settings
            )
        else:
            pnl = mm = ZERO
        a = self._asset(instrument.margin_asset)
        a.add_futures(instrument.market, _sub(pnl, state.pnl), _sub(mm, state.mm))
        state.positions, state.pnl, state.mm = legs, pnl, mm
        stored = symbol in self._symbols
        if legs and not stored:
            self._symbols[symbol] = state
            a.count_symbol(1)
        elif not legs and stored:
            del self._symbols[symbol]
            a.count_symbol(-1)
        key = (instrument.market, symbol)
        if self._book.has_group(key):  # even when its cached worst case is "nothing fills"
            self._regroup({key}, refresh=False, invalidate=True)
        if refresh:
            self._refresh(a)

    def _worst(self, key: GroupKey) -> Effect:
        """`worst(key)`: EMPTY without pending legs, else from the group's side caches."""
        group = self._groups.get(key)
        if group is None or not len(group):
            return EMPTY
        return worst_cached(self, key, None if key[0] == "LOAN" else self.pricing(key), group)

    def _reference(self, key: GroupKey) -> Decimal:
        instrument = self.instrument(key)
        return self.index_price(instrument.base_asset) / self.index_price(instrument.quote_asset)

    def _new_group(self, key: GroupKey) -> Group:
        if key[0] == "LOAN":
            return LoanGroup(key)
        if key[0] == "MARGIN":
            return MarginGroup(key, self.pricing(key), self._reference(key))
        self.futures_state(key[1])  # the mark and the brackets must be there (SnapshotError)
        return FuturesGroup(key, self.pricing(key), self._marks[key[1]])

    def _group_add(self, order: PendingOrder, reuse: Mapping[GroupKey, Reuse] | None) -> None:
        """Add `order`'s legs to their groups' sums (priced now, or as projected)."""
        by_key: dict[GroupKey, list[tuple[int, Leg]]] = {}
        for i, leg in enumerate(order.legs):
            by_key.setdefault(leg.key, []).append((i, leg))
        for key, legs in by_key.items():
            group = self._groups.get(key)
            if group is None:
                group = self._new_group(key)
            found = None if reuse is None else reuse.get(key)
            if found is not None and isinstance(group, FuturesGroup):
                side, effect, prices = found
                reusable = side is not None and group.plain_regular(side)
                group.add(order.key, legs, prices)
                if reusable and side is not None:  # the projected scenario of that side
                    group.cache[side] = effect  # is this side's pending scenario now
            else:
                group.add(order.key, legs)
            self._groups[key] = group

    def _group_remove(self, order: str, keys: Iterable[GroupKey]) -> None:
        for key in keys:
            group = self._groups.get(key)
            if group is not None:
                group.remove(order)
                # an empty futures group stays (it follows its mark; the next order on the
                # symbol reuses it), margin pairs and loans go (their prices are not followed)
                if not len(group) and not isinstance(group, FuturesGroup):
                    del self._groups[key]

    def _regroup(
        self, keys: Iterable[GroupKey], refresh: bool = True, invalidate: bool = False
    ) -> None:
        """Recompute the groups' worst cases; `invalidate`: their inputs changed (else only
        their legs did, and the groups already know which sides)."""
        effects = {}
        for k in sorted(keys):
            if invalidate and (group := self._groups.get(k)) is not None:
                group.invalidate()
            effects[k] = self._worst(k)
        self._commit(effects, refresh)

    def _commit(self, effects: Mapping[GroupKey, Effect], refresh: bool = True) -> None:
        """Swap in new cached group effects and patch the per-asset pending sums."""
        touched: set[str] = set()
        cached = self._effects
        for key, effect in effects.items():
            old = cached.pop(key, EMPTY)
            if effect.deltas is not old.deltas:  # a rescored cache keeps its deltas
                for name, d in old.deltas.items():
                    self._asset(name).add_pending(d, -1)
                    touched.add(name)
                for name, d in effect.deltas.items():
                    self._asset(name).add_pending(d, 1)
                    touched.add(name)
            if effect is not EMPTY:
                cached[key] = effect
            if key[0] == "MARGIN" or key[0] == "LOAN":
                self._index_group(key, has_legs=self._book.has_group(key))
        if refresh:
            for name in sorted(touched) if len(touched) > 1 else touched:
                self._refresh_pending(self._assets[name])

    def _index_group(self, key: GroupKey, has_legs: bool) -> None:
        """A margin pair's or loan's group under its assets (while it has legs)."""
        if key[0] == "LOAN":
            assets = [key[1]]
        else:
            i = self.instrument(key)
            assets = [i.base_asset, i.quote_asset]
        for name in assets:
            groups = self._balance_groups.setdefault(name, set())
            if has_legs:
                groups.add(key)
            else:
                groups.discard(key)

    def _terms(self, name: str, rate: CollateralRate, v: list[Decimal]) -> Terms:
        if v[0] == ZERO and v[1] == ZERO and v[2] == ZERO and v[3] == ZERO:
            return ZERO_TERMS
        return asset_terms(v[0], v[1], v[2], v[3], self.index_price(name), rate, self._settings)

    def _row(self, a: AssetState, v: list[Decimal], terms: Terms) -> AssetRow | None:
        if terms is ZERO_TERMS:
            return None
        return asset_row((a.name, v, terms, self._prices[a.name]))

    def _refresh(self, a: AssetState) -> None:
        """Recompute asset `a`'s USD terms and patch both totals."""
        new = self._terms(a.name, a.rate, a.inputs(False))
        self._totals.patch(a.name, a.terms, new)
        a.terms = new
        self._refresh_pending(a)

    def _refresh_pending(self, a: AssetState) -> None:
        """Recompute asset `a`'s USD terms with pending orders and patch their total (a
        pending change leaves the terms without pending orders as they were)."""
        if a.n_pending:
            inputs = a.inputs(True)
            new_p = self._terms(a.name, a.rate, inputs)
        else:  # no pending delta: the same inputs as without pending orders, the same terms
            inputs, new_p = a.inputs(False), a.terms
        self._totals_p.patch(a.name, a.terms_p, new_p)
        a.terms_p, a.inputs_p = new_p, inputs


def _key(order: PendingOrder) -> str:
    return order.key


RowInputs = tuple[str, list[Decimal], Terms, Decimal]  # asset, inputs, USD terms, index price
# per futures group of a projection: (the side all its legs are on, or None; that side's
# scenario effect with the legs in it; the legs' fill prices)
Reuse = tuple[bool | None, Effect | None, list[Decimal | None]]


class PendingHint(Protocol):
    """A projection `add_pending` can reuse (`project.Projection`)."""

    def reuse_for(self, risk: AccountRisk, order: PendingOrder) -> Mapping[GroupKey, Reuse] | None:
        """What `risk.add_pending(order)` may take as computed, or None."""


def _accumulate(acc: dict[str, list[Decimal]], deltas: Mapping[str, Delta], add: bool) -> None:
    """acc[asset] ±= delta, element-wise (a new asset starts from exact zeros)."""
    for name, d in deltas.items():
        v = acc.get(name)
        if v is None:
            v = acc[name] = [ZERO, ZERO, ZERO, ZERO]
        if add:
            v[0], v[1], v[2], v[3] = v[0] + d[0], v[1] + d[1], v[2] + d[2], v[3] + d[3]
        else:
            v[0], v[1], v[2], v[3] = v[0] - d[0], v[1] - d[1], v[2] - d[2], v[3] - d[3]


def asset_row(row: RowInputs) -> AssetRow:
    """An asset's breakdown row from its inputs (E, UM, CM, loan MM), terms and price."""
    name, v, terms, price = row
    return AssetRow(
        name, v[0], price, terms[0], terms[1], v[1], v[2], v[3], terms[2] + terms[3] + terms[4]
    )
