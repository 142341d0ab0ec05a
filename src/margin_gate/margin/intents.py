"""Binance order requests → `OrderIntent`: pure parsing of (method, path, params).

One parser per `RouteKind` (see `routes.ORDER_ROUTES`). Each validates what the projection
relies on (symbol, side, type, quantities and prices, with exact Decimal parsing and the
symbol's tick/step) and answers bad input with Binance's error (see `reading`). Parameters:
binance-pm.md §2.3 (PAPI UM/CM/margin, conditional, algo, modify, OCO, loans) and §2.4
(fapi/dapi orders, algoOrder, batchOrders, sapi margin, spot).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from decimal import Decimal
from typing import cast

from margin_gate.margin import reading
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.legs import CONDITIONAL_TYPES
from margin_gate.margin.legs import FUTURES_ORDER_TYPES
from margin_gate.margin.legs import MARGIN_ORDER_TYPES
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.legs import order_leg
from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import SideEffect
from margin_gate.margin.pending import OrderRef
from margin_gate.margin.reading import Instruments
from margin_gate.margin.reading import Params
from margin_gate.margin.routes import ORDER_ROUTES
from margin_gate.margin.routes import IntentKind
from margin_gate.margin.routes import OrderIntent
from margin_gate.margin.routes import RouteKind
from margin_gate.wire.errors import BinanceError

__all__ = ["ORDER_ROUTES", "OrderIntent", "parse_intent"]

NOT_GATED = "{method} {path} is not an order route (see ORDER_ROUTES)"
_PAPI_FUTURES_TYPES = frozenset({"LIMIT", "MARKET"})
_SIDE_EFFECTS = ("NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY")
_POSITION_SIDES = ("BOTH", "LONG", "SHORT")
_LIMIT_PRICED = frozenset(
    {"LIMIT", "STOP", "TAKE_PROFIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
)
_MARGIN_TRIGGERED = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
_FUTURES_TRIGGERED = CONDITIONAL_TYPES - {"TRAILING_STOP_MARKET"}

Parser = Callable[[Params, Instruments], OrderIntent | BinanceError]


# -- futures --


def _futures_leg(
    params: Params,
    instruments: Instruments,
    market: FuturesMarket,
    allowed: frozenset[str],
    type_param: str = "type",
) -> OrderLeg | BinanceError:
    """One UM/CM order (plain, conditional, algo or batch element) as its worst-case leg.

    closePosition=true means the whole position (quantity ignored) and counts as reduceOnly.
    Trigger: `triggerPrice` (algo) or `stopPrice` (conditional, classic); activation:
    `activatePrice` (algo) or `activationPrice`; `callbackRate` in percent.
    """
    inst = reading.instrument(params, market, instruments)
    if isinstance(inst, BinanceError):
        return inst
    side = reading.side(params)
    if isinstance(side, BinanceError):
        return side
    order_type = reading.order_type(params, type_param, allowed)
    if isinstance(order_type, BinanceError):
        return order_type
    position_side = reading.choice(params, "positionSide", _POSITION_SIDES, "BOTH")
    reduce_only = reading.flag(params, "reduceOnly")
    close = reading.flag(params, "closePosition")
    for checked in (position_side, reduce_only, close):
        if isinstance(checked, BinanceError):
            return checked
    price_match = params.get("priceMatch", "NONE") not in ("", "NONE")
    quantity = None if close else reading.required(params, "quantity", inst.step_size)
    price = None
    if order_type in _LIMIT_PRICED and not price_match:
        price = reading.required(params, "price", inst.tick_size)
    stop = None
    if order_type in _FUTURES_TRIGGERED:
        stop = reading.first(params, ("triggerPrice", "stopPrice"), inst.tick_size)
        stop = reading.missing("triggerPrice") if stop is None else stop
    activation = reading.first(params, ("activatePrice", "activationPrice"), inst.tick_size)
    callback = None
    if order_type == "TRAILING_STOP_MARKET":
        callback = reading.required(params, "callbackRate")
    for number in (quantity, price, stop, activation, callback):
        if isinstance(number, BinanceError):
            return number
    return order_leg(
        market,
        inst.symbol,
        side,
        order_type,
        cast(Decimal | None, quantity),
        price=cast(Decimal | None, price),
        stop_price=cast(Decimal | None, stop),
        activation_price=cast(Decimal | None, activation),
        callback_rate=cast(Decimal | None, callback),
        price_match=price_match,
        position_side=cast(PositionSide, position_side),
        reduce_only=reduce_only is True or close is True,
    )


def _single(
    market: FuturesMarket, allowed: frozenset[str], route: RouteKind, type_param: str = "type"
) -> Parser:
    def parse(params: Params, instruments: Instruments) -> OrderIntent | BinanceError:
        leg = _futures_leg(params, instruments, market, allowed, type_param)
        if isinstance(leg, BinanceError):
            return leg
        conditional = params[type_param] in CONDITIONAL_TYPES
        kind: IntentKind = "conditional" if conditional else "order"
        return OrderIntent(kind, route, ((leg,),), conditional=conditional)

    return parse


def _modify(market: FuturesMarket, route: RouteKind) -> Parser:
    """PUT order: a LIMIT order replacing `orderId` / `origClientOrderId` (§2.3 Modify)."""

    def parse(params: Params, instruments: Instruments) -> OrderIntent | BinanceError:
        order_id = params.get("orderId") or None
        client_id = params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            return reading.missing("orderId")
        limit = {**params, "type": "LIMIT"}
        leg = _futures_leg(limit, instruments, market, frozenset({"LIMIT"}))
        if isinstance(leg, BinanceError):
            return leg
        ref = OrderRef(market, leg.symbol, order_id, client_id)
        return OrderIntent("modify", route, ((leg,),), ref)

    return parse


def _batch(market: FuturesMarket, route: RouteKind) -> Parser:
    """batchOrders: a JSON list of ≤ 5 orders, all of which may fill (§2.4). One bad element
    refuses the whole batch (Binance would answer per element; refusing all is safe)."""

    def parse(params: Params, instruments: Instruments) -> OrderIntent | BinanceError:
        elements = reading.json_list(params.get("batchOrders"))
        if isinstance(elements, BinanceError):
            return elements
        legs = []
        for element in elements:
            leg = _futures_leg(element, instruments, market, FUTURES_ORDER_TYPES)
            if isinstance(leg, BinanceError):
                return leg
            legs.append(leg)
        conditional = any(e.get("type") in CONDITIONAL_TYPES for e in elements)
        return OrderIntent("batch", route, (tuple(legs),), conditional=conditional)

    return parse


# -- margin --


def _margin_leg(
    params: Params, instruments: Instruments, order_type: str, side_effect: SideEffect
) -> OrderLeg | BinanceError:
    """A Cross Margin / spot order leg: `quantity`, or `quoteOrderQty` for MARKET."""
    inst = reading.instrument(params, "MARGIN", instruments)
    if isinstance(inst, BinanceError):
        return inst
    side = reading.side(params)
    if isinstance(side, BinanceError):
        return side
    quantity = reading.number(params, "quantity", inst.step_size)
    quote = None
    if quantity is None and order_type == "MARKET":
        quote = reading.required(params, "quoteOrderQty")
    elif quantity is None:
        quantity = reading.missing("quantity")
    price = None
    if order_type in _LIMIT_PRICED:
        price = reading.required(params, "price", inst.tick_size)
    stop = None
    if order_type in _MARGIN_TRIGGERED:
        stop = reading.required(params, "stopPrice", inst.tick_size)
    for number in (quantity, quote, price, stop):
        if isinstance(number, BinanceError):
            return number
    return order_leg(
        "MARGIN",
        inst.symbol,
        side,
        order_type,
        cast(Decimal | None, quantity),
        price=cast(Decimal | None, price),
        stop_price=cast(Decimal | None, stop),
        quote_quantity=cast(Decimal | None, quote),
        side_effect=side_effect,
    )


def _side_effect(params: Params) -> SideEffect | BinanceError:
    found = reading.choice(params, "sideEffectType", _SIDE_EFFECTS, "NO_SIDE_EFFECT")
    return found if isinstance(found, BinanceError) else cast(SideEffect, found)


def _margin_order(route: RouteKind) -> Parser:
    def parse(params: Params, instruments: Instruments) -> OrderIntent | BinanceError:
        order_type = reading.order_type(params, "type", MARGIN_ORDER_TYPES)
        if isinstance(order_type, BinanceError):
            return order_type
        # spot orders have no sideEffectType: they never borrow or repay
        effect = _side_effect(params) if route == "margin_order" else "NO_SIDE_EFFECT"
        if isinstance(effect, BinanceError):
            return effect
        leg = _margin_leg(params, instruments, order_type, effect)
        if isinstance(leg, BinanceError):
            return leg
        return OrderIntent("order", route, ((leg,),))

    return parse


def _margin_oco(params: Params, instruments: Instruments) -> OrderIntent | BinanceError:
    """OCO: a LIMIT_MAKER leg at `price` and a stop leg (STOP_LOSS_LIMIT at `stopLimitPrice`
    when given, else STOP_LOSS at `stopPrice`); exactly one of them can fill."""
    effect = _side_effect(params)
    if isinstance(effect, BinanceError):
        return effect
    limit = _margin_leg(params, instruments, "LIMIT_MAKER", effect)
    if isinstance(limit, BinanceError):
        return limit
    stop_type = "STOP_LOSS_LIMIT" if params.get("stopLimitPrice") else "STOP_LOSS"
    stop_params = {**params, "price": params.get("stopLimitPrice", "")}
    stop = _margin_leg(stop_params, instruments, stop_type, effect)
    if isinstance(stop, BinanceError):
        return stop
    return OrderIntent("oco", "margin_oco", ((limit,), (stop,)))


# -- loans --


def _loan(route: RouteKind) -> Parser:
    """marginLoan / repayLoan: `asset` and `amount`; repay-debt: `amount` optional (all)."""

    def parse(params: Params, instruments: Instruments) -> OrderIntent | BinanceError:
        asset = reading.identifier(params, "asset")
        if isinstance(asset, BinanceError):
            return asset
        amount = reading.number(params, "amount")
        if amount is None and route != "repay_debt":
            amount = reading.missing("amount")
        if isinstance(amount, BinanceError):
            return amount
        if route == "borrow":
            return OrderIntent("borrow", route, ((LoanLeg(asset, "BORROW", amount),),))
        return OrderIntent("repay", route, ((LoanLeg(asset, "REPAY", amount),),))

    return parse


_PARSERS: Mapping[RouteKind, Parser] = {
    "um_order": _single("UM", _PAPI_FUTURES_TYPES, "um_order"),
    "cm_order": _single("CM", _PAPI_FUTURES_TYPES, "cm_order"),
    "fapi_order": _single("UM", FUTURES_ORDER_TYPES, "fapi_order"),
    "dapi_order": _single("CM", FUTURES_ORDER_TYPES, "dapi_order"),
    "um_modify": _modify("UM", "um_modify"),
    "cm_modify": _modify("CM", "cm_modify"),
    "um_conditional": _single("UM", CONDITIONAL_TYPES, "um_conditional", "strategyType"),
    "cm_conditional": _single("CM", CONDITIONAL_TYPES, "cm_conditional", "strategyType"),
    "um_algo": _single("UM", CONDITIONAL_TYPES, "um_algo"),
    "cm_algo": _single("CM", CONDITIONAL_TYPES, "cm_algo"),
    "um_batch": _batch("UM", "um_batch"),
    "cm_batch": _batch("CM", "cm_batch"),
    "margin_order": _margin_order("margin_order"),
    "spot_order": _margin_order("spot_order"),
    "margin_oco": _margin_oco,
    "borrow": _loan("borrow"),
    "repay": _loan("repay"),
    "repay_debt": _loan("repay_debt"),
}


@engine_context
def parse_intent(
    method: str, path: str, params: Mapping[str, str], instruments: Instruments
) -> OrderIntent | BinanceError:
    """Parse an order-entry request into an `OrderIntent`, or the Binance error it deserves.

    `instruments` is keyed by (market, symbol) (`model.instrument_map`). Raises ValueError
    for a (method, path) outside `ORDER_ROUTES`: routing that is the gateway's bug, not the
    client's. Symbols and assets are matched upper-cased.
    """
    route = ORDER_ROUTES.get((method.upper(), path))
    if route is None:
        raise ValueError(NOT_GATED.format(method=method, path=path))
    return _PARSERS[route](params, instruments)
