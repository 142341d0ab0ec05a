"""Cross-margin routes: PAPI margin orders, sapi margin orders, spot orders on the cross-margin
wallet, manual borrow/repay, and `POST /sapi/v1/margin/manual-liquidation` (§2.5)."""

from __future__ import annotations

from typing import Any

from margin_gate.paper import errors
from margin_gate.paper import liquidation
from margin_gate.paper import margin
from margin_gate.paper.http import Call
from margin_gate.paper.http import Endpoint
from margin_gate.paper.http import Routes
from margin_gate.paper.numbers import fmt8
from margin_gate.paper.numbers import json_number
from margin_gate.paper.orders import Order
from margin_gate.paper.views_orders import MarginApi
from margin_gate.paper.views_orders import margin_cancel
from margin_gate.paper.views_orders import margin_new_order
from margin_gate.paper.views_orders import margin_query
from margin_gate.wire.errors import BinanceError

__all__ = ["margin_routes"]


def _spec(call: Call, order: Order) -> Any:
    return call.exchange.state.margin_symbols[order.symbol]


def _handlers(api: MarginApi) -> dict[str, Any]:
    def new(call: Call) -> Any:
        result = margin.place(call.exchange, call.params, spot=api == "spot")
        if isinstance(result, BinanceError):
            return result
        default = "FULL" if result.type in ("MARKET", "LIMIT") else "ACK"
        resp_type = call.params.get("newOrderRespType") or default
        return margin_new_order(result, _spec(call, result), api=api, resp_type=resp_type)

    def cancel(call: Call) -> Any:
        result = margin.cancel(call.exchange, call.params)
        if isinstance(result, BinanceError):
            return result
        return margin_cancel(result, _spec(call, result), api=api)

    def query(call: Call) -> Any:
        result = margin.find(call.exchange, call.params)
        if isinstance(result, BinanceError):
            return result
        return margin_query(result, _spec(call, result), api=api)

    def open_orders(call: Call) -> Any:
        orders = call.exchange.book.open_orders("MARGIN", call.params.get("symbol"))
        return [margin_query(o, _spec(call, o), api=api) for o in orders]

    def cancel_all(call: Call) -> Any:
        symbol = call.params.get("symbol")
        if not symbol:
            return errors.missing("symbol")
        cancelled = margin.cancel_all(call.exchange, symbol)
        return [margin_cancel(o, _spec(call, o), api=api) for o in cancelled]

    return {
        "new": new,
        "cancel": cancel,
        "query": query,
        "open_orders": open_orders,
        "cancel_all": cancel_all,
    }


def _order_routes(order_path: str, open_path: str, cancel_all_path: str, api: MarginApi) -> Routes:
    h = _handlers(api)
    return {
        ("POST", order_path): Endpoint(h["new"], is_order=True),
        ("DELETE", order_path): Endpoint(h["cancel"]),
        ("GET", order_path): Endpoint(h["query"]),
        ("GET", open_path): Endpoint(h["open_orders"], weight=40),
        ("DELETE", cancel_all_path): Endpoint(h["cancel_all"]),
    }


def _loan(call: Call) -> Any:
    result = margin.loan(call.exchange, call.params)
    return result if isinstance(result, BinanceError) else {"tranId": result}


def _repay(call: Call) -> Any:
    result = margin.repay_loan(call.exchange, call.params)
    return result if isinstance(result, BinanceError) else {"tranId": result}


def _borrow_repay(call: Call) -> Any:
    kind = call.params.get("type")
    if kind == "BORROW":
        return _loan(call)
    if kind == "REPAY":
        return _repay(call)
    return errors.missing("type")


def _manual_liquidation(call: Call) -> Any:
    ex = call.exchange
    kind = call.params.get("type")
    if kind not in ("MARGIN", "ISOLATED"):
        return errors.missing("type")
    if kind == "ISOLATED":
        return BinanceError(-3003, "Isolated margin is not supported by the paper exchange.")
    gate = ex.trading_gate()
    if gate is not None:
        return gate
    margin.cancel_all(ex, None)
    items = liquidation.liquidate_margin(ex)
    ex.after_change()
    return [
        {
            "asset": item["asset"],
            "interest": fmt8(item["interest"]),
            "principal": fmt8(item["principal"]),
            "liabilityAsset": item["liabilityAsset"],
            # a bare number in Binance's sample (python-binance docstring, SDK fixture)
            "liabilityQty": json_number(item["liabilityQty"]),
        }
        for item in items
    ]


def margin_routes() -> Routes:
    routes: Routes = {}
    routes.update(
        _order_routes(
            "/papi/v1/margin/order",
            "/papi/v1/margin/openOrders",
            "/papi/v1/margin/allOpenOrders",
            "papi",
        )
    )
    routes.update(
        _order_routes(
            "/sapi/v1/margin/order",
            "/sapi/v1/margin/openOrders",
            "/sapi/v1/margin/openOrders",
            "sapi",
        )
    )
    routes.update(
        _order_routes("/api/v3/order", "/api/v3/openOrders", "/api/v3/openOrders", "spot")
    )
    routes[("POST", "/papi/v1/marginLoan")] = Endpoint(_loan, weight=100)
    routes[("POST", "/papi/v1/repayLoan")] = Endpoint(_repay, weight=100)
    routes[("POST", "/sapi/v1/margin/borrow-repay")] = Endpoint(_borrow_repay, weight=1500)
    routes[("POST", "/sapi/v1/margin/manual-liquidation")] = Endpoint(
        _manual_liquidation, weight=3000
    )
    return routes
