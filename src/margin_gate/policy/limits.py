"""Static limits measured on an order's legs: USD notional and distance from mark (pure).

Notional (USD) per leg: UM `qty × price × P(margin asset)` (price = limit, else mark;
closePosition = the whole position), CM `contracts × contractSize` (USD by definition, §1.4),
margin `qty × price × P(quote)` or `quoteOrderQty × P(quote)`, loans `amount × P(asset)`.
An OCO counts its larger alternative; a batch the sum of its legs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.routes import OrderIntent

__all__ = ["CollarBreach", "collar_breach", "intent_notional", "intent_symbols"]

_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class CollarBreach:
    symbol: str
    price: Decimal
    reference: Decimal  # mark (futures) or index ratio (margin)
    bound: Decimal  # the price the collar allows at most (too_high) or at least
    too_high: bool


def _reference(risk: AccountRisk, leg: OrderLeg) -> Decimal:
    if leg.market == "MARGIN":
        inst = risk.instrument(leg.key)
        return risk.index_price(inst.base_asset) / risk.index_price(inst.quote_asset)
    return risk.mark_price(leg.symbol)


def _leg_notional(risk: AccountRisk, leg: Leg) -> Decimal:
    if isinstance(leg, LoanLeg):
        if leg.amount is None:
            b = risk.balance(leg.asset)
            amount = b.cross_margin_borrowed + b.cross_margin_interest
        else:
            amount = leg.amount
        return amount * risk.index_price(leg.asset)
    inst = risk.instrument(leg.key)
    if leg.market == "CM":
        qty = leg.quantity
        if qty is None:
            pos = risk.position(leg.symbol, leg.position_side)
            qty = _ZERO if pos is None else abs(pos.amount)
        return qty * inst.contract_size
    price = leg.price if leg.price is not None else _reference(risk, leg)
    if leg.market == "MARGIN":
        if leg.quantity is None:
            return (leg.quote_quantity or _ZERO) * risk.index_price(inst.quote_asset)
        return leg.quantity * price * risk.index_price(inst.quote_asset)
    qty = leg.quantity
    if qty is None:
        pos = risk.position(leg.symbol, leg.position_side)
        qty = _ZERO if pos is None else abs(pos.amount)
    return qty * price * risk.index_price(inst.margin_asset)


def intent_notional(risk: AccountRisk, intent: OrderIntent) -> Decimal:
    """USD notional of the intent (the larger OCO alternative). SnapshotError if unpriced."""
    alternatives = intent.alternatives
    if len(alternatives) == 1 and len(alternatives[0]) == 1:  # one leg: what max(sum()) gives
        return _ZERO + _leg_notional(risk, alternatives[0][0])
    return max(sum((_leg_notional(risk, leg) for leg in alt), _ZERO) for alt in intent.alternatives)


def intent_symbols(intent: OrderIntent) -> tuple[str, ...]:
    """The order symbols of the intent (loans have none)."""
    return tuple(leg.symbol for leg in intent.legs if isinstance(leg, OrderLeg))


def collar_breach(risk: AccountRisk, intent: OrderIntent, fraction: Decimal) -> CollarBreach | None:
    """The first limit-priced leg whose price is more than `fraction` away from its reference."""
    for leg in intent.legs:
        if not isinstance(leg, OrderLeg) or leg.price is None or leg.at_market:
            continue
        ref = _reference(risk, leg)
        high, low = ref * (_ONE + fraction), ref * (_ONE - fraction)
        if leg.price > high:
            return CollarBreach(leg.symbol, leg.price, ref, high, True)
        if leg.price < low:
            return CollarBreach(leg.symbol, leg.price, ref, low, False)
    return None
