"""Order JSON as each API prints it: PAPI UM/CM/margin, classic fapi/dapi/sapi, and spot.

`newOrderRespType` (binance-pm.md §2.3): futures default ACK, which answers with the order as
accepted (status NEW, nothing executed) even when it filled at once; RESULT gives the final
state. Margin/spot MARKET and LIMIT default FULL (RESULT plus `fills`).
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import fmt8
from margin_gate.paper.numbers import fmt_step
from margin_gate.paper.orders import Order
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import MarginSymbol

__all__ = [
    "FuturesApi",
    "MarginApi",
    "futures_order",
    "margin_cancel",
    "margin_new_order",
    "margin_query",
]

FuturesApi = Literal["papi", "fapi", "dapi"]
MarginApi = Literal["papi", "sapi", "spot"]
Json = dict[str, Any]


def futures_order(
    order: Order, spec: FuturesSymbol, *, api: FuturesApi, ack: bool = False, query: bool = False
) -> Json:
    """A UM or CM order. `ack`: as accepted; `query`: adds the creation `time`."""
    f = spec.filters
    executed = ZERO if ack else order.executed_qty
    cum = ZERO if ack else order.cum_quote
    body: Json = {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": "NEW" if ack else order.status,
        "clientOrderId": order.client_order_id,
        "price": fmt_step(order.price, f.tick_size),
        "avgPrice": fmt8(ZERO if ack else order.avg_price),
        "origQty": fmt_step(order.quantity, f.step_size),
        "executedQty": fmt_step(executed, f.step_size),
        "cumQty": fmt_step(executed, f.step_size),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "reduceOnly": order.reduce_only,
        "side": order.side,
        "positionSide": order.position_side,
        "origType": order.orig_type,
        "updateTime": order.time if ack else order.update_time,
    }
    if spec.kind == "UM":
        body["cumQuote"] = fmt8(cum)
        body["selfTradePreventionMode"] = order.stp
        body["goodTillDate"] = order.good_till_date
        body["priceMatch"] = "NONE"
    else:
        body["cumBase"] = fmt8(cum)
        body["pair"] = spec.pair
    if api != "papi":
        body["stopPrice"] = "0"
        body["closePosition"] = order.close_position
        body["workingType"] = "CONTRACT_PRICE"
        body["priceProtect"] = False
    if query:
        body["time"] = order.time
    return body


def _fills(order: Order) -> list[Json]:
    return [
        {
            "price": fmt8(fill.price),
            "qty": fmt8(fill.qty),
            "commission": fmt8(fill.commission),
            "commissionAsset": fill.commission_asset,
            "tradeId": fill.trade_id,
        }
        for fill in order.fills
    ]


def margin_new_order(order: Order, spec: MarginSymbol, *, api: MarginApi, resp_type: str) -> Json:
    body: Json = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }
    if api == "spot":
        body["orderListId"] = -1
    if api == "sapi":
        body["isIsolated"] = False
    if resp_type == "ACK":
        return body
    f = spec.filters
    body.update(
        {
            "price": fmt_step(order.price, f.tick_size),
            "origQty": fmt_step(order.quantity, f.step_size),
            "executedQty": fmt_step(order.executed_qty, f.step_size),
            "cummulativeQuoteQty": fmt8(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
        }
    )
    if api != "papi":
        body["selfTradePreventionMode"] = order.stp
    if api == "spot":
        body["origQuoteOrderQty"] = fmt8(order.quote_order_qty)
        body["workingTime"] = order.time
    if order.borrowed:
        body["marginBuyBorrowAmount"] = fmt8(order.borrowed)
        body["marginBuyBorrowAsset"] = order.borrow_asset
    if resp_type == "FULL":
        body["fills"] = _fills(order)
    return body


def margin_query(order: Order, spec: MarginSymbol, *, api: MarginApi) -> Json:
    f = spec.filters
    body: Json = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "price": fmt_step(order.price, f.tick_size),
        "origQty": fmt_step(order.quantity, f.step_size),
        "executedQty": fmt_step(order.executed_qty, f.step_size),
        "cummulativeQuoteQty": fmt8(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.is_open,
        "selfTradePreventionMode": order.stp,
    }
    if api == "sapi":
        body["isIsolated"] = False
    if api == "spot":
        body["orderListId"] = -1
        body["origQuoteOrderQty"] = fmt8(order.quote_order_qty)
        body["workingTime"] = order.time
    return body


def margin_cancel(order: Order, spec: MarginSymbol, *, api: MarginApi) -> Json:
    f = spec.filters
    body: Json = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "price": fmt_step(order.price, f.tick_size),
        "origQty": fmt_step(order.quantity, f.step_size),
        "executedQty": fmt_step(order.executed_qty, f.step_size),
        "cummulativeQuoteQty": fmt8(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
    }
    if api == "sapi":
        body["isIsolated"] = False
    if api == "spot":
        body["orderListId"] = -1
        body["transactTime"] = order.update_time
    return body
