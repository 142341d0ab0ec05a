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

Cost: O(legs of the intent) — the pending orders enter through their groups' running sums
(`groups`: Σ quantities per side and position side; Σ most-cost and most-proceeds of margin
legs, priced at the current index prices), summed exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from margin_gate.margin.decimals import EXACT
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.fills import REPAYS
from margin_gate.margin.fills import margin_flows
from margin_gate.margin.groups import FuturesGroup
from margin_gate.margin.groups import LoanGroup
from margin_gate.margin.groups import MarginGroup
from margin_gate.margin.groups import most_proceeds
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.project import resolve
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.routes import OrderIntent

__all__ = ["is_risk_reducing"]

_add = EXACT.add


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
    # per side (this leg's first): [legs, Σ quantities (amount-less: the position), plain legs]
    same, other = _pending_position(risk, leg, replaced, size)
    for p in others:
        if isinstance(p, OrderLeg) and p.position_side == leg.position_side:
            side = same if p.side == leg.side else other
            side[0] += 1
            side[1] = _add(side[1], size if p.quantity is None else p.quantity)
            side[2] += not p.reduce_only
    if leg.reduce_only and not same[2]:
        return True  # every fill on this side is capped at the position by the exchange
    signed = EXACT.subtract(same[1], other[1])
    after_all = _add(amount, signed if buy else -signed)
    return (
        _add(qty, same[1]) <= size
        and after_all != ZERO
        and (after_all > ZERO) == (amount > ZERO)
        and qty <= abs(after_all)
    )


def _pending_position(
    risk: AccountRisk, leg: OrderLeg, replaced: str | None, size: Decimal
) -> tuple[list[Decimal], list[Decimal]]:
    group = risk.group(leg.key)
    buy = leg.side == "BUY"
    sides = []
    for b in (buy, not buy):
        n, qty, none, plain = (
            group.direction(b, leg.position_side, replaced)
            if isinstance(group, FuturesGroup)
            else (0, ZERO, 0, 0)
        )
        sides.append([Decimal(n), _add(qty, EXACT.multiply(size, none)), Decimal(plain)])
    return sides[0], sides[1]


def _flows(risk: AccountRisk, leg: OrderLeg) -> tuple[str, Decimal, str, Decimal]:
    """(paid asset, most it can cost, received asset, most it can bring in) of a margin leg.

    BUY with quantity: costs ≤ qty × worst price, brings in ≤ qty. BUY with quoteOrderQty:
    proceeds are unbounded (∞). SELL with quantity: costs qty, brings in ≤ qty × the higher
    of limit and reference, plus slippage. SELL with quoteOrderQty: brings in the quote amount,
    costs ≤ quote / worst price. Reference price = index ratio P_base / P_quote.
    """
    pricing = risk.pricing(leg.key)
    inst = pricing.instrument
    reference = risk.index_price(inst.base_asset) / risk.index_price(inst.quote_asset)
    slip = pricing.slip(leg.side == "BUY")
    pay, cost, recv, _ = margin_flows(leg, inst, reference, slip, pricing.fee)
    proceeds = most_proceeds(leg, reference, slip)
    return pay, cost, recv, INFINITY if proceeds is None else proceeds


def _margin_reducing(
    risk: AccountRisk, leg: OrderLeg, others: Sequence[Leg], replaced: str | None
) -> bool:
    if leg.side_effect != "AUTO_REPAY":
        return False
    pay, spent, recv, repaid = _flows(risk, leg)
    pending = _pending_flows(risk, pay, recv, replaced)
    if pending is None:  # a pending leg without a sum form: all of them one by one
        pending = _legs_flows(risk, risk.pending_balance_legs((pay, recv), replaced), pay, recv)
    p_spent, p_repaid = pending
    o_spent, o_repaid = _legs_flows(risk, others, pay, recv)
    spent = _add(_add(spent, p_spent), o_spent)
    repaid = _add(_add(repaid, p_repaid), o_repaid)
    owed = risk.balance(recv)
    paying = risk.balance(pay)
    free = paying.cross_margin_asset - paying.cross_margin_locked
    liability = owed.cross_margin_borrowed + owed.cross_margin_interest
    return repaid <= liability and spent <= free


def _pending_flows(
    risk: AccountRisk, pay: str, recv: str, replaced: str | None
) -> tuple[Decimal, Decimal] | None:
    """Σ most-cost of pending legs paying `pay` (margin spends, manual repays) and Σ
    most-proceeds of pending repaying legs into `recv` (AUTO_REPAY / AUTO_BORROW_REPAY
    proceeds, manual repays), without order `replaced`, ∞ for an unbounded one; None when a
    margin leg has no sum form."""
    spent = repaid = ZERO
    keys: set[GroupKey] = set()
    for group in [*risk.balance_groups(pay), *risk.balance_groups(recv)]:
        if group.key in keys:
            continue
        keys.add(group.key)
        if isinstance(group, LoanGroup):
            _, amount, n_all, _ = group.totals(replaced)
            total = INFINITY if n_all else amount
            if group.key[1] == pay:
                spent = _add(spent, total)
            else:
                repaid = _add(repaid, total)
            continue
        assert isinstance(group, MarginGroup)
        inst = group.pricing.instrument
        for buy in (True, False):
            s = group.side(buy, replaced)
            if s.n_odd:
                return None
            paid, received = (
                (inst.quote_asset, inst.base_asset) if buy else (inst.base_asset, inst.quote_asset)
            )
            if paid == pay:
                spent = _add(spent, _add(s.paid_borrow, s.paid_plain))
            if received == recv:
                repaid = _add(repaid, INFINITY if s.infinite else s.proceeds)
    return spent, repaid


def _legs_flows(
    risk: AccountRisk, legs: Sequence[Leg], pay: str, recv: str
) -> tuple[Decimal, Decimal]:
    """`_pending_flows` of `legs`, leg by leg."""
    spent = repaid = ZERO
    for other in legs:
        if isinstance(other, LoanLeg):
            amount = INFINITY if other.amount is None else other.amount
            if other.action == "REPAY":  # a pending repay uses both the balance and the debt
                spent = _add(spent, amount if other.asset == pay else ZERO)
                repaid = _add(repaid, amount if other.asset == recv else ZERO)
            continue
        o_pay, o_cost, o_recv, o_proceeds = _flows(risk, other)
        spent = _add(spent, o_cost if o_pay == pay else ZERO)
        if o_recv == recv and other.side_effect in REPAYS:
            repaid = _add(repaid, o_proceeds)
    return spent, repaid
