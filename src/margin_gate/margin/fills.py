"""Fill arithmetic: the worst fill price of a leg and what one fill does to a position or
to balances (binance-pm.md §1.10 steps 2–5).

Futures (§1.10 step 3/4): increasing a position averages the entry (UM arithmetic mean; CM
harmonic, so inverse uPnL stays additive); reducing books realized PnL on the closed part into
the wallet; a flip closes, then reopens the rest at the fill price. Whatever the split, the
equity effect of a UM fill valued at mark is `Δqty × (mark − price) − fee`, and of a CM fill
`Δcontracts × size × (1/price − 1/mark) − fee` (coin).
Margin (§1.10 step 5): the paid asset shrinks (borrowing the shortfall with MARGIN_BUY /
AUTO_BORROW_REPAY), the received asset grows net of the taker fee (repaying its loan, interest
first, with AUTO_REPAY / AUTO_BORROW_REPAY).
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import EXACT
from margin_gate.margin.decimals import ONE
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.model import Balance
from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Position
from margin_gate.margin.model import PositionSide

__all__ = [
    "BORROWS",
    "REPAYS",
    "apply_futures_leg",
    "apply_loan_leg",
    "apply_margin_leg",
    "effective_slippage",
    "fill_price",
    "fill_quantity",
    "futures_equity",
    "futures_fill",
    "margin_flows",
    "receive",
    "repay",
    "round_balance",
    "spend",
]

BORROWS = frozenset({"MARGIN_BUY", "AUTO_BORROW_REPAY"})
REPAYS = frozenset({"AUTO_REPAY", "AUTO_BORROW_REPAY"})


def effective_slippage(buy: bool, slippage: Decimal, instrument: Instrument) -> Decimal:
    """Market slippage capped by `marketTakeBound` and PERCENT_PRICE (§5.1): a BUY cannot fill
    above `mark × multiplierUp`, a SELL below `mark × multiplierDown`."""
    s = slippage
    if instrument.market_take_bound is not None:
        s = min(s, instrument.market_take_bound)
    if buy and instrument.percent_price_up is not None:
        s = min(s, instrument.percent_price_up - ONE)
    if not buy and instrument.percent_price_down is not None:
        s = min(s, ONE - instrument.percent_price_down)
    return max(s, ZERO)


def fill_price(leg: OrderLeg, mark: Decimal, slippage: Decimal) -> Decimal:
    """Worst fill price for `leg` given `mark` and the (already capped) slippage fraction.

    ref = leg.price or mark; trailing: worse-of(ref, mark) moved by the callback; market
    execution: × (1 ± slippage); finally worse-of with mark (BUY: max, SELL: min), so an
    immediate loss against mark is charged and a passive price better than mark never books a
    gain (§1.10 step 2, issue 4).
    """
    buy = leg.side == "BUY"
    ref = mark if leg.price is None else leg.price
    if leg.callback:
        ref = (
            max(ref, mark) * (ONE + leg.callback) if buy else min(ref, mark) * (ONE - leg.callback)
        )
    if leg.at_market:
        ref = ref * (ONE + slippage) if buy else ref * (ONE - slippage)
    return max(ref, mark) if buy else min(ref, mark)


def futures_fill(
    amount: Decimal, entry: Decimal, delta: Decimal, price: Decimal, inverse: Decimal | None
) -> tuple[Decimal, Decimal, Decimal]:
    """(new amount, new entry, realized PnL) after filling signed `delta` at `price`.

    `inverse` is the CM contract size (None for UM). Realized PnL is in the margin asset:
    UM `closed × (price − entry)`, CM `closed × size × (1/entry − 1/price)`, signed by the
    position's direction. Entry: UM weighted mean; CM harmonic mean (§1.10 steps 3–4).
    """
    new = amount + delta
    if amount == ZERO:
        return new, price, ZERO
    if (amount > ZERO) == (delta > ZERO):
        if inverse is None:
            return new, (amount * entry + delta * price) / new, ZERO
        return new, new / (amount / entry + delta / price), ZERO
    closed = min(abs(delta), abs(amount))
    if amount < ZERO:
        closed = -closed
    if inverse is None:
        realized = closed * (price - entry)
    else:
        realized = closed * inverse * (price - entry) / (entry * price)
    if new == ZERO:
        return new, ZERO, realized
    return new, (entry if (new > ZERO) == (amount > ZERO) else price), realized


def futures_equity(
    buy: bool,
    qty: Decimal,
    price: Decimal,
    mark: Decimal,
    inverse: Decimal | None,
    fee_rate: Decimal,
) -> tuple[Decimal, Decimal]:
    """(equity change valued at mark, fee) of filling `qty` (≥ 0) at `price`.

    UM: `Δqty × (mark − price) − qty × price × rate` (margin asset); CM (`inverse` = contract
    size): `Δcontracts × size × (mark − price) / (price × mark) − contracts × size / price × rate`
    (coin). The pending-order sums (`groups`) price each leg with this same function.
    """
    delta = qty if buy else -qty
    if inverse is None:
        fee = qty * price * fee_rate
        return delta * (mark - price) - fee, fee
    fee = qty * inverse / price * fee_rate
    return delta * inverse * (mark - price) / (price * mark) - fee, fee


def fill_quantity(leg: OrderLeg, amount: Decimal) -> Decimal:
    """How much of `leg` fills on a position of `amount`: its quantity (a closePosition leg:
    the whole position); a capped leg (reduceOnly, closePosition, hedge close) at most the
    position it opposes, and nothing when there is none."""
    qty = abs(amount) if leg.quantity is None else leg.quantity
    if leg.capped:
        opposes = amount < ZERO if leg.side == "BUY" else amount > ZERO
        qty = min(qty, abs(amount)) if opposes else ZERO
    return qty


def apply_futures_leg(
    positions: dict[PositionSide, Position],
    leg: OrderLeg,
    instrument: Instrument,
    mark: Decimal,
    slippage: Decimal,
    fee_rate: Decimal,
) -> tuple[Decimal, Decimal]:
    """Fill `leg` into `positions` (mutated); returns (wallet change, equity change).

    Wallet change = realized PnL − fee. Equity change (valued at mark, exact, whatever the
    realized/unrealized split): see `futures_equity`. A capped leg (reduceOnly, closePosition,
    hedge close) fills at most the position it opposes, and nothing when there is none.
    """
    side = leg.position_side
    pos = positions.get(side)
    amount, entry = (ZERO, ZERO) if pos is None else (pos.amount, pos.entry_price)
    buy = leg.side == "BUY"
    qty = fill_quantity(leg, amount)
    if qty == ZERO:
        return ZERO, ZERO
    price = fill_price(leg, mark, slippage)
    delta = qty if buy else -qty
    inverse = None if instrument.market == "UM" else instrument.contract_size
    new_amount, new_entry, realized = futures_fill(amount, entry, delta, price, inverse)
    market = cast(FuturesMarket, instrument.market)
    positions[side] = Position(instrument.symbol, market, side, new_amount, new_entry)
    equity, fee = futures_equity(buy, qty, price, mark, inverse, fee_rate)
    return realized - fee, equity


_add = EXACT.add
_sub = EXACT.subtract


def spend(balance: Balance, amount: Decimal, borrow: bool) -> Balance:
    """Pay `amount` of the asset; with `borrow`, borrow the shortfall beyond the free balance
    (`asset − locked`). Exact arithmetic (`EXACT`): a group's legs accumulate without rounding
    and `round_balance` rounds once at the end."""
    loan = ZERO
    if borrow:
        free = max(_sub(balance.cross_margin_asset, balance.cross_margin_locked), ZERO)
        loan = max(_sub(amount, free), ZERO)
    return Balance(
        balance.asset,
        _sub(_add(balance.cross_margin_asset, loan), amount),
        _add(balance.cross_margin_borrowed, loan),
        balance.cross_margin_interest,
        balance.um_wallet,
        balance.cm_wallet,
        balance.cross_margin_locked,
    )


def repay(balance: Balance, amount: Decimal | None) -> Balance:
    """Repay `amount` (None: everything owed) of the loan, interest first (exact)."""
    owed = _add(balance.cross_margin_interest, balance.cross_margin_borrowed)
    paid = owed if amount is None else min(amount, owed)
    interest = min(paid, balance.cross_margin_interest)
    return Balance(
        balance.asset,
        _sub(balance.cross_margin_asset, paid),
        _sub(balance.cross_margin_borrowed, _sub(paid, interest)),
        _sub(balance.cross_margin_interest, interest),
        balance.um_wallet,
        balance.cm_wallet,
        balance.cross_margin_locked,
    )


def receive(balance: Balance, amount: Decimal, repays: bool) -> Balance:
    """Receive `amount`; with `repays`, it repays the asset's loan (interest first) (exact)."""
    grown = Balance(
        balance.asset,
        _add(balance.cross_margin_asset, amount),
        balance.cross_margin_borrowed,
        balance.cross_margin_interest,
        balance.um_wallet,
        balance.cm_wallet,
        balance.cross_margin_locked,
    )
    return repay(grown, amount) if repays else grown


def round_balance(balance: Balance) -> Balance:
    """`balance` with its Cross Margin fields rounded to decimal128 (`ENGINE_CONTEXT`)."""
    plus = ENGINE_CONTEXT.plus
    return Balance(
        balance.asset,
        plus(balance.cross_margin_asset),
        plus(balance.cross_margin_borrowed),
        plus(balance.cross_margin_interest),
        balance.um_wallet,
        balance.cm_wallet,
        balance.cross_margin_locked,
    )


def margin_flows(
    leg: OrderLeg, instrument: Instrument, reference: Decimal, slippage: Decimal, fee_rate: Decimal
) -> tuple[str, Decimal, str, Decimal]:
    """(paid asset, amount paid, received asset, amount received net of the taker fee) when
    margin `leg` fills at its worst price.

    `reference` is the pair's price in quote per base (index ratio P_base / P_quote). BUY
    pays `qty × price` quote (or exactly `quoteOrderQty`, receiving `quoteOrderQty / price`),
    SELL pays `qty` base (or `quoteOrderQty / price`). The taker fee is taken from what is
    received (spot default; BNB fee discount not modelled).
    """
    price = fill_price(leg, reference, slippage)
    if leg.quantity is not None:
        qty, value = leg.quantity, leg.quantity * price
    else:
        value = leg.quote_quantity or ZERO
        qty = value / price
    if leg.side == "BUY":
        pay, paid, recv, received = instrument.quote_asset, value, instrument.base_asset, qty
    else:
        pay, paid, recv, received = instrument.base_asset, qty, instrument.quote_asset, value
    return pay, paid, recv, received - received * fee_rate


def apply_margin_leg(
    balances: dict[str, Balance],
    leg: OrderLeg,
    instrument: Instrument,
    reference: Decimal,
    slippage: Decimal,
    fee_rate: Decimal,
) -> None:
    """Fill a margin `leg` into `balances` (base and quote present; mutated; exact fields)."""
    pay, paid, recv, received = margin_flows(leg, instrument, reference, slippage, fee_rate)
    balances[pay] = spend(balances[pay], paid, leg.side_effect in BORROWS)
    balances[recv] = receive(balances[recv], received, leg.side_effect in REPAYS)


def apply_loan_leg(balances: dict[str, Balance], leg: LoanLeg) -> None:
    """Manual borrow (asset and loan both grow) or repay (interest first) of `leg.asset`."""
    b = balances[leg.asset]
    if leg.action == "REPAY":
        balances[leg.asset] = repay(b, leg.amount)
        return
    amount = leg.amount or ZERO
    balances[leg.asset] = Balance(
        b.asset,
        _add(b.cross_margin_asset, amount),
        _add(b.cross_margin_borrowed, amount),
        b.cross_margin_interest,
        b.um_wallet,
        b.cm_wallet,
        b.cross_margin_locked,
    )
