"""Futures trading routes: PAPI UM/CM orders, classic fapi/dapi orders, and UM algo orders."""

from __future__ import annotations

from typing import Any

from margin_gate.paper import algo
from margin_gate.paper import errors
from margin_gate.paper import futures
from margin_gate.paper.http import Call
from margin_gate.paper.http import Endpoint
from margin_gate.paper.http import Routes
from margin_gate.paper.orders import Order
from margin_gate.paper.schema import Kind
from margin_gate.paper.views_orders import FuturesApi
from margin_gate.paper.views_orders import futures_order
from margin_gate.wire.errors import BinanceError

__all__ = ["trade_routes"]

_CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


def _render(
    call: Call, order: Order, api: FuturesApi, *, ack: bool = False, query: bool = False
) -> Any:
    spec = call.exchange.state.futures_symbol(order.symbol)
    assert spec is not None
    return futures_order(order, spec, api=api, ack=ack, query=query)


def _handlers(kind: Kind, api: FuturesApi) -> dict[str, Any]:
    def new(call: Call) -> Any:
        result = futures.place(call.exchange, kind, call.params)
        if isinstance(result, BinanceError):
            return result
        ack = (call.params.get("newOrderRespType") or "ACK") == "ACK"
        return _render(call, result, api, ack=ack)

    def cancel(call: Call) -> Any:
        result = futures.cancel(call.exchange, kind, call.params)
        return result if isinstance(result, BinanceError) else _render(call, result, api)

    def modify(call: Call) -> Any:
        result = futures.modify(call.exchange, kind, call.params)
        return result if isinstance(result, BinanceError) else _render(call, result, api)

    def query(call: Call) -> Any:
        result = futures.find(call.exchange, kind, call.params)
        return (
            result if isinstance(result, BinanceError) else _render(call, result, api, query=True)
        )

    def open_order(call: Call) -> Any:
        result = futures.find(call.exchange, kind, call.params)
        if isinstance(result, BinanceError) or not result.is_open:
            return BinanceError(-2013, "Order does not exist.")
        return _render(call, result, api, query=True)

    def open_orders(call: Call) -> Any:
        symbol = call.params.get("symbol")
        orders = call.exchange.book.open_orders(kind, symbol)
        return [_render(call, o, api, query=True) for o in orders]

    def cancel_all(call: Call) -> Any:
        symbol = call.params.get("symbol")
        if not symbol:
            return errors.missing("symbol")
        futures.cancel_all(call.exchange, kind, symbol)
        if kind == "UM":
            algo.cancel_all(call.exchange, symbol)
        return _CANCEL_ALL_DONE

    return {
        "new": new,
        "cancel": cancel,
        "modify": modify,
        "query": query,
        "open_order": open_order,
        "open_orders": open_orders,
        "cancel_all": cancel_all,
    }


def _order_routes(prefix: str, kind: Kind, api: FuturesApi) -> Routes:
    h = _handlers(kind, api)
    return {
        ("POST", f"{prefix}/order"): Endpoint(h["new"], is_order=True, weight=0),
        ("DELETE", f"{prefix}/order"): Endpoint(h["cancel"]),
        ("PUT", f"{prefix}/order"): Endpoint(h["modify"], is_order=True),
        ("GET", f"{prefix}/order"): Endpoint(h["query"]),
        ("GET", f"{prefix}/openOrder"): Endpoint(h["open_order"]),
        ("GET", f"{prefix}/openOrders"): Endpoint(h["open_orders"], weight=40),
        ("DELETE", f"{prefix}/allOpenOrders"): Endpoint(h["cancel_all"]),
    }


def _algo_new(call: Call) -> Any:
    result = algo.place(call.exchange, call.params)
    return result if isinstance(result, BinanceError) else algo.render(result)


def _algo_cancel(call: Call) -> Any:
    result = algo.cancel(call.exchange, call.params)
    if isinstance(result, BinanceError):
        return result
    return {
        "algoId": result.algo_id,
        "clientAlgoId": result.client_algo_id,
        "code": "200",
        "msg": "success",
    }


def _algo_open(call: Call) -> Any:
    symbol = call.params.get("symbol")
    return [
        algo.render(a)
        for a in call.exchange.algos.open.values()
        if symbol is None or a.spec.symbol == symbol
    ]


def _algo_query(call: Call) -> Any:
    raw = call.params.get("algoId") or ""
    client = call.params.get("clientAlgoId")
    for a in call.exchange.algos.all.values():
        if (raw.isdigit() and a.algo_id == int(raw)) or (client and a.client_algo_id == client):
            return algo.render(a)
    return BinanceError(-2013, "Order does not exist.")


def _algo_cancel_all(call: Call) -> Any:
    algo.cancel_all(call.exchange, call.params.get("symbol"))
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def trade_routes() -> Routes:
    routes: Routes = {}
    routes.update(_order_routes("/papi/v1/um", "UM", "papi"))
    routes.update(_order_routes("/papi/v1/cm", "CM", "papi"))
    routes.update(_order_routes("/fapi/v1", "UM", "fapi"))
    routes.update(_order_routes("/dapi/v1", "CM", "dapi"))
    for prefix, path in (("/papi/v1/um/algo", "/order"), ("/fapi/v1", "/algoOrder")):
        routes[("POST", prefix + path)] = Endpoint(_algo_new, is_order=True, weight=0)
        routes[("DELETE", prefix + path)] = Endpoint(_algo_cancel)
    routes[("GET", "/papi/v1/um/algo/algoOrder")] = Endpoint(_algo_query)
    routes[("GET", "/fapi/v1/algoOrder")] = Endpoint(_algo_query)
    routes[("GET", "/papi/v1/um/algo/openAlgoOrders")] = Endpoint(_algo_open)
    routes[("GET", "/fapi/v1/openAlgoOrders")] = Endpoint(_algo_open)
    routes[("DELETE", "/papi/v1/um/algo/allOpenOrders")] = Endpoint(_algo_cancel_all)
    routes[("DELETE", "/fapi/v1/algoOpenOrders")] = Endpoint(_algo_cancel_all)
    return routes
