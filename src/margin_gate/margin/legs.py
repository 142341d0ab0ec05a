"""Worst-case legs: what an order does to the account if it fills, before prices are known.

An `OrderLeg` keeps the order's *pricing rule*, not a price, so a resting order is re-priced
against the current mark each time it is evaluated (design point 4 in docs/margin-engine.md):
- reference price `price` (limit, trigger or activation price; None = mark),
- `at_market`: a market execution, so `market_slippage` applies on top of the reference,
- `callback`: a trailing stop's callback fraction, applied adversely,
then the fill price is the worse of that and mark for the order's side.
Legs serialize to flat `dict[str, str]` (the Redis store keeps pending orders as JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Literal
from typing import cast
from typing import get_args

from margin_gate.margin.decimals import ZERO
from margin_gate.margin.model import Market
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import Side
from margin_gate.margin.model import SideEffect

__all__ = [
    "CONDITIONAL_TYPES",
    "FUTURES_ORDER_TYPES",
    "MARGIN_ORDER_TYPES",
    "GroupKey",
    "Leg",
    "LoanAction",
    "LoanLeg",
    "OrderLeg",
    "capped_first",
    "leg_from_json",
    "leg_to_json",
    "open_order_leg",
    "order_leg",
]

LoanAction = Literal[
    "BORROW",  # marginLoan: asset and loan both grow
    "REPAY",  # repayLoan / repay-debt: asset and loan (interest first) both shrink
]
GroupKey = tuple[str, str]  # ("UM"|"CM"|"MARGIN", symbol) or ("LOAN", asset)

# Pricing rule per type: limit-priced, market-priced (reference = trigger or none), trailing.
_FUTURES_LIMIT = frozenset({"LIMIT", "STOP", "TAKE_PROFIT"})
_FUTURES_MARKET = frozenset({"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET"})
_TRAILING = frozenset({"TRAILING_STOP_MARKET"})
_MARGIN_LIMIT = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_MARGIN_MARKET = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})
FUTURES_ORDER_TYPES = _FUTURES_LIMIT | _FUTURES_MARKET | _TRAILING
MARGIN_ORDER_TYPES = _MARGIN_LIMIT | _MARGIN_MARKET
CONDITIONAL_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
UNKNOWN_TYPE = "order type {type} is not valid on {market}"
BAD_LEG = "stored leg is malformed: {field}={value!r}"


@dataclass(frozen=True, slots=True)
class OrderLeg:
    """One order's worst-case fill rule (futures or margin)."""

    market: Market
    symbol: str
    side: Side
    quantity: Decimal | None  # base / contracts; None: closePosition, or margin quoteOrderQty
    price: Decimal | None = None  # reference price; None: mark
    at_market: bool = False
    callback: Decimal = ZERO  # fraction, 0.01 = 1%
    position_side: PositionSide = "BOTH"
    reduce_only: bool = False  # reduceOnly=true or closePosition=true
    quote_quantity: Decimal | None = None  # margin quoteOrderQty (quote asset)
    side_effect: SideEffect = "NO_SIDE_EFFECT"

    @property
    def key(self) -> GroupKey:
        return (self.market, self.symbol)

    @property
    def capped(self) -> bool:
        """Can only shrink its position: reduceOnly/closePosition, or a hedge-mode close
        (SELL on LONG, BUY on SHORT). Capped legs fill at most the position's size."""
        if self.reduce_only:
            return True
        return (self.position_side, self.side) in (("LONG", "SELL"), ("SHORT", "BUY"))


@dataclass(frozen=True, slots=True)
class LoanLeg:
    """A manual borrow or repay of one asset; amount None = the whole liability."""

    asset: str
    action: LoanAction
    amount: Decimal | None

    @property
    def key(self) -> GroupKey:
        return ("LOAN", self.asset)

    @property
    def side(self) -> Side:
        """The pending-book side: borrows are one side (BUY), repays the other (SELL)."""
        return "BUY" if self.action == "BORROW" else "SELL"


Leg = OrderLeg | LoanLeg


def _uncapped(leg: Leg) -> bool:
    return not (isinstance(leg, OrderLeg) and leg.capped)


def capped_first(legs: Sequence[Leg]) -> list[Leg]:
    """Capped legs (reduceOnly/closePosition/hedge close) first, the rest after; stable."""
    return sorted(legs, key=_uncapped)


def order_leg(
    market: Market,
    symbol: str,
    side: Side,
    order_type: str,
    quantity: Decimal | None,
    *,
    price: Decimal | None = None,
    stop_price: Decimal | None = None,
    activation_price: Decimal | None = None,
    callback_rate: Decimal | None = None,
    price_match: bool = False,
    position_side: PositionSide = "BOTH",
    reduce_only: bool = False,
    quote_quantity: Decimal | None = None,
    side_effect: SideEffect = "NO_SIDE_EFFECT",
) -> OrderLeg:
    """The worst-case leg of one order (binance-pm.md §1.10 step 2, §2.3 types).

    LIMIT-like types fill at `price` (worse-of with mark later); MARKET and the *_MARKET stop
    types at mark or trigger plus slippage; priceMatch like MARKET; TRAILING_STOP_MARKET at
    the activation price (or mark) moved by `callback_rate`% and slippage. Margin STOP_LOSS and
    TAKE_PROFIT are market stops, their *_LIMIT variants limit-priced (spot semantics).
    """
    limit_types, market_types = (
        (_MARGIN_LIMIT, _MARGIN_MARKET) if market == "MARGIN" else (_FUTURES_LIMIT, _FUTURES_MARKET)
    )
    callback = ZERO
    if order_type in _TRAILING and market != "MARGIN":
        ref, at_market = activation_price, True
        callback = (callback_rate or ZERO) / 100
    elif order_type in market_types:
        ref, at_market = stop_price, True
    elif order_type in limit_types:
        ref, at_market = (stop_price, True) if price_match else (price, False)
    else:
        raise ValueError(UNKNOWN_TYPE.format(type=order_type, market=market))
    return OrderLeg(
        market,
        symbol,
        side,
        quantity,
        ref,
        at_market,
        callback,
        position_side,
        reduce_only,
        quote_quantity,
        side_effect,
    )


def open_order_leg(order: OpenOrder) -> OrderLeg:
    """The worst-case leg of a resting order from the snapshot."""
    return order_leg(
        order.market,
        order.symbol,
        order.side,
        order.order_type,
        order.quantity,
        price=order.price,
        stop_price=order.stop_price,
        activation_price=order.activation_price,
        callback_rate=order.callback_rate,
        price_match=order.price_match,
        position_side=order.position_side,
        reduce_only=order.reduce_only or order.quantity is None,
        side_effect=order.side_effect,
    )


# -- JSON (flat dicts of strings) --


def _dec(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def leg_to_json(leg: Leg) -> dict[str, str]:
    """A leg as a flat dict of strings; `leg_from_json` inverts it exactly."""
    if isinstance(leg, LoanLeg):
        return {
            "kind": "loan",
            "asset": leg.asset,
            "action": leg.action,
            "amount": _dec(leg.amount),
        }
    return {
        "kind": "order",
        "market": leg.market,
        "symbol": leg.symbol,
        "side": leg.side,
        "quantity": _dec(leg.quantity),
        "price": _dec(leg.price),
        "at_market": _bool(leg.at_market),
        "callback": str(leg.callback),
        "position_side": leg.position_side,
        "reduce_only": _bool(leg.reduce_only),
        "quote_quantity": _dec(leg.quote_quantity),
        "side_effect": leg.side_effect,
    }


def _number(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(BAD_LEG.format(field="number", value=text)) from None
    if not value.is_finite():
        raise ValueError(BAD_LEG.format(field="number", value=text))
    return value


def _opt(data: Mapping[str, str], name: str) -> Decimal | None:
    text = data[name]
    return None if text == "" else _number(text)


def _choice(data: Mapping[str, str], name: str, allowed: object) -> str:
    value = data[name]
    if value not in get_args(allowed):
        raise ValueError(BAD_LEG.format(field=name, value=value))
    return value


def _flag(data: Mapping[str, str], name: str) -> bool:
    return _choice(data, name, Literal["true", "false"]) == "true"


def leg_from_json(data: Mapping[str, str]) -> Leg:
    """Rebuild a leg stored by `leg_to_json`; ValueError/KeyError on anything malformed."""
    if data["kind"] == "loan":
        action = cast(LoanAction, _choice(data, "action", LoanAction))
        return LoanLeg(data["asset"], action, _opt(data, "amount"))
    if data["kind"] != "order":
        raise ValueError(BAD_LEG.format(field="kind", value=data["kind"]))
    return OrderLeg(
        market=cast(Market, _choice(data, "market", Market)),
        symbol=data["symbol"],
        side=cast(Side, _choice(data, "side", Side)),
        quantity=_opt(data, "quantity"),
        price=_opt(data, "price"),
        at_market=_flag(data, "at_market"),
        callback=_number(data["callback"]),
        position_side=cast(PositionSide, _choice(data, "position_side", PositionSide)),
        reduce_only=_flag(data, "reduce_only"),
        quote_quantity=_opt(data, "quote_quantity"),
        side_effect=cast(SideEffect, _choice(data, "side_effect", SideEffect)),
    )
