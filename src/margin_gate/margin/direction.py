"""Risk direction: can this intent only reduce risk? (design point 6, binance-pm.md §1.10.6)

The policy lets reducing intents through even in the reduce-only band, so this must never say
True for an intent that can raise maintenance margin or flip a position. It is True only for:
- a futures order that opposes an existing position and cannot take it past zero even when
  every pending order on the same position and side fills too (`qty + Σ same-side pending ≤
  |position|`, and still opposing the position after all its pending orders fill); with
  reduceOnly / closePosition the exchange caps each fill at the position, so when every
  same-side pending order is capped as well no combination can flip it;
- a margin AUTO_REPAY order whose received asset owes at least the largest possible proceeds
  (plus other pending auto-repays into it) and whose paid asset has the free balance to pay
  (so nothing is borrowed);
- a manual repay (repayLoan, repay-debt).
Everything else, including any MARGIN_BUY / AUTO_BORROW_REPAY order and any marginLoan, is
risk-increasing. Batch legs count as pending for each other; an OCO must be reducing on both
legs; a modify is judged as its new order, without the order it replaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.decimals import ONE
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.fills import effective_slippage
from margin_gate.margin.fills import fill_price
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.project import resolve
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.routes import OrderIntent

__all__ = ["is_risk_reducing"]

_REPAYS = frozenset({"AUTO_REPAY", "AUTO_BORROW_REPAY"})


@engine_context
def is_risk_reducing(risk: AccountRisk, intent: OrderIntent) -> bool:
    """True only when `intent` can only reduce risk (see the module doc for the rules)."""
    if intent.kind in ("borrow", "repay"):
        return intent.kind == "repay"
    alternatives, replaced = resolve(risk, intent)
    for legs in alternatives:
        for i, leg in enumerate(legs):
            others = legs[:i] + legs[i + 1 :]
            if not _reducing(risk, leg, others, replaced):
                return False
    return True


def _reducing(risk: AccountRisk, leg: Leg, others: Sequence[Leg], replaced: str | None) -> bool:
    assert isinstance(leg, OrderLeg)  # loans are their own intents
    if leg.market == "MARGIN":
        return _margin_reducing(risk, leg, others, replaced)
    return _futures_reducing(risk, leg, others, replaced)


def _futures_reducing(
    risk: AccountRisk, leg: OrderLeg, others: Sequence[Leg], replaced: str | None
) -> bool:
    pos = risk.position(leg.symbol, leg.position_side)
    amount = ZERO if pos is None else pos.amount
    buy = leg.side == "BUY"
    if amount == ZERO or (amount > ZERO) == buy:
        return False  # nothing to reduce, or it adds to the position
    size = abs(amount)
    qty = size if leg.quantity is None else leg.quantity
    if leg.reduce_only:
        qty = min(qty, size)
    same_position = [
        p
        for p in [*risk.pending_legs(leg.key, replaced), *others]
        if isinstance(p, OrderLeg) and p.position_side == leg.position_side
    ]
    same_side = [p for p in same_position if p.side == leg.side]
    if leg.reduce_only and all(p.reduce_only for p in same_side):
        return True  # every fill on this side is capped at the position by the exchange
    pending_same = sum((_qty(p, size) for p in same_side), ZERO)
    after_all = amount + sum(
        (_qty(p, size) if p.side == "BUY" else -_qty(p, size) for p in same_position), ZERO
    )
    return (
        qty + pending_same <= size
        and after_all != ZERO
        and (after_all > ZERO) == (amount > ZERO)
        and qty <= abs(after_all)
    )


def _qty(leg: OrderLeg, size: Decimal) -> Decimal:
    return size if leg.quantity is None else leg.quantity


def _flows(risk: AccountRisk, leg: OrderLeg) -> tuple[str, Decimal, str, Decimal]:
    """(paid asset, most it can cost, received asset, most it can bring in) of a margin leg.

    BUY with quantity: costs ≤ qty × worst price, brings in ≤ qty. BUY with quoteOrderQty:
    proceeds are unbounded (∞). SELL with quantity: costs qty, brings in ≤ qty × the higher
    of limit and reference, plus slippage. SELL with quoteOrderQty: brings in the quote amount,
    costs ≤ quote / worst price. Reference price = index ratio P_base / P_quote.
    """
    inst = risk.instrument(leg.key)
    base, quote = inst.base_asset, inst.quote_asset
    reference = risk.index_price(base) / risk.index_price(quote)
    buy = leg.side == "BUY"
    slip = effective_slippage(buy, risk.settings.market_slippage, inst)
    worst = fill_price(leg, reference, slip)
    if buy:
        if leg.quantity is None:
            return quote, leg.quote_quantity or ZERO, base, INFINITY
        return quote, leg.quantity * worst, base, leg.quantity
    if leg.quantity is None:
        received = leg.quote_quantity or ZERO
        return base, received / worst, quote, received
    high = max(reference if leg.price is None else leg.price, reference) * (ONE + slip)
    return base, leg.quantity, quote, leg.quantity * high


def _margin_reducing(
    risk: AccountRisk, leg: OrderLeg, others: Sequence[Leg], replaced: str | None
) -> bool:
    if leg.side_effect != "AUTO_REPAY":
        return False
    pay, spent, recv, repaid = _flows(risk, leg)
    for other in [*risk.pending_balance_legs((pay, recv), replaced), *others]:
        if isinstance(other, LoanLeg):
            amount = INFINITY if other.amount is None else other.amount
            if other.action == "REPAY":  # a pending repay uses both the balance and the debt
                spent += amount if other.asset == pay else ZERO
                repaid += amount if other.asset == recv else ZERO
            continue
        o_pay, o_cost, o_recv, o_proceeds = _flows(risk, other)
        spent += o_cost if o_pay == pay else ZERO
        repaid += o_proceeds if o_recv == recv and other.side_effect in _REPAYS else ZERO
    owed = risk.balance(recv)
    paying = risk.balance(pay)
    free = paying.cross_margin_asset - paying.cross_margin_locked
    liability = owed.cross_margin_borrowed + owed.cross_margin_interest
    return repaid <= liability and spent <= free
