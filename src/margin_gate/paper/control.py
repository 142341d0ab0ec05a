"""The control API under `/paper/control/...`: move prices, inject faults, drop or expire user
streams, hold liquidation, deposit, read the full state, reset. Unauthenticated, for loopback
tests and demos only: mounted only when `create_app(control_api=True)` (`--control`).
"""

from __future__ import annotations

from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.engine import PriceUpdate
from margin_gate.paper.export import export_state
from margin_gate.paper.faults import FaultRule
from margin_gate.paper.faults import Faults
from margin_gate.paper.loader import StateError
from margin_gate.paper.loader import load_state
from margin_gate.paper.numbers import fmt8
from margin_gate.paper.streams import StreamHub
from margin_gate.paper.views_orders import futures_order
from margin_gate.paper.views_orders import margin_query

__all__ = ["control_app"]

_KINDS = ("latency", "error", "timeout", "throttle")


class _BadRequest(Exception):
    """A control request that cannot be applied; answered 400 with the message."""


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _BadRequest(f"'{name}' must be a number")
    try:
        result = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise _BadRequest(f"'{name}' is not a number: {value!r}") from None
    if not result.is_finite() or result <= 0:
        raise _BadRequest(f"'{name}' must be positive")
    return result


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    return data


def _price_update(item: object, ex: PaperExchange) -> PriceUpdate:
    if not isinstance(item, dict):
        raise _BadRequest("each price change must be an object")
    if "base" in item:
        return PriceUpdate(base=str(item["base"]), price=_decimal(item.get("price"), "price"))
    if "symbol" in item:
        symbol = str(item["symbol"])
        if ex.state.futures_symbol(symbol) is None:
            raise _BadRequest(f"unknown futures symbol {symbol}")
        mark = _decimal(item["mark"], "mark") if "mark" in item else None
        index = _decimal(item["index"], "index") if "index" in item else None
        if mark is None and index is None:
            raise _BadRequest("a symbol change needs 'mark' and/or 'index'")
        return PriceUpdate(symbol=symbol, mark=mark, index=index)
    if "asset" in item:
        value = item.get("index", item.get("price"))
        return PriceUpdate(asset=str(item["asset"]), index=_decimal(value, "index"))
    raise _BadRequest("a price change needs 'base', 'symbol' or 'asset'")


def _summary(ex: PaperExchange) -> dict[str, Any]:
    snap = ex.risk()
    return {
        "uniMMR": ex.uni_mmr_text(),
        "accountStatus": ex.status,
        "accountEquity": fmt8(snap.account_equity),
        "actualEquity": fmt8(snap.actual_equity),
        "accountMaintMargin": fmt8(snap.maint_margin),
        "liquidating": ex.liquidating,
        "liquidationHold": ex.liquidation_hold,
    }


def _full_state(ex: PaperExchange, hub: StreamHub) -> dict[str, Any]:
    orders = []
    for order in ex.book.open.values():
        if order.venue == "MARGIN":
            orders.append(
                {
                    "venue": "MARGIN",
                    **margin_query(order, ex.state.margin_symbols[order.symbol], api="papi"),
                }
            )
        else:
            spec = ex.state.futures_symbol(order.symbol)
            assert spec is not None
            orders.append(
                {"venue": order.venue, **futures_order(order, spec, api="papi", query=True)}
            )
    return {
        **_summary(ex),
        "state": export_state(ex),
        "openOrders": orders,
        "listenKey": hub.keys.active(ex.now()),
    }


class _Control:
    """The control endpoints, bound to one exchange, stream hub and fault list."""

    def __init__(self, ex: PaperExchange, hub: StreamHub, faults: Faults) -> None:
        self.ex, self.hub, self.faults = ex, hub, faults

    async def state(self, request: Request) -> Response:
        return _json(_full_state(self.ex, self.hub))

    async def prices(self, request: Request) -> Response:
        body = await _body(request)
        items = body.get("prices", [body])
        if not isinstance(items, list):
            raise _BadRequest("'prices' must be a list")
        updates = [_price_update(item, self.ex) for item in items]
        moved = self.ex.set_prices(updates)
        return _json({"moved": moved, **_summary(self.ex)})

    async def add_fault(self, request: Request) -> Response:
        self.faults.add(_fault(await _body(request)))
        return await self.list_faults(request)

    async def list_faults(self, request: Request) -> Response:
        return _json({"faults": [r.as_dict() for r in self.faults.rules]})

    async def clear_faults(self, request: Request) -> Response:
        self.faults.clear()
        return _json({"faults": []})

    async def drop_streams(self, request: Request) -> Response:
        return _json({"dropped": self.hub.drop_users()})

    async def expire_key(self, request: Request) -> Response:
        key = (await _body(request)).get("listenKey")
        gone = self.hub.keys.expire(str(key) if key else None)
        self.hub.expire(gone, self.ex.now())
        return _json({"expired": gone})

    async def liquidation(self, request: Request) -> Response:
        body = await _body(request)
        if "hold" in body:
            self.hub.hold_liquidation(bool(body["hold"]))
        return _json(_summary(self.ex))

    async def deposit(self, request: Request) -> Response:
        body = await _body(request)
        wallet = body.get("wallet", "um")
        if wallet not in ("margin", "um", "cm"):
            raise _BadRequest("'wallet' must be margin, um or cm")
        asset = str(body.get("asset", ""))
        if asset not in self.ex.ledger.asset_index:
            raise _BadRequest(f"unknown asset {asset!r}")
        self.ex.deposit(asset, _decimal(body.get("amount"), "amount"), wallet)
        return _json(_summary(self.ex))

    async def reset(self, request: Request) -> Response:
        source = self.ex.state.source
        try:
            state = load_state(source) if source is not None else None
        except (OSError, StateError) as exc:
            raise _BadRequest(f"cannot reload {source}: {exc}") from None
        self.ex.reset(state)
        self.hub.reset()
        self.hub.hold_liquidation(False)
        self.faults.clear()
        return _json(_summary(self.ex))


def _fault(body: dict[str, Any]) -> FaultRule:
    kind = body.get("kind")
    if kind not in _KINDS:
        raise _BadRequest(f"'kind' must be one of {', '.join(_KINDS)}")
    count = body.get("count", 1)
    try:
        return FaultRule(
            kind=kind,
            path=str(body.get("path", "*")),
            method=str(body.get("method", "*")).upper(),
            count=None if count is None else int(count),
            ms=int(body.get("ms", 0)),
            status=int(body.get("status", 0)),
            code=int(body.get("code", 0)),
            msg=str(body.get("msg", "")),
            execute=bool(body.get("execute", False)),
        )
    except (TypeError, ValueError) as exc:
        raise _BadRequest(str(exc)) from None


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _json({"error": str(exc)}, 400)


def control_app(ex: PaperExchange, hub: StreamHub, faults: Faults) -> Starlette:
    c = _Control(ex, hub, faults)
    routes = [
        Route("/state", c.state, methods=["GET"]),
        Route("/prices", c.prices, methods=["POST"]),
        Route("/faults", c.add_fault, methods=["POST"]),
        Route("/faults", c.list_faults, methods=["GET"]),
        Route("/faults", c.clear_faults, methods=["DELETE"]),
        Route("/streams/drop", c.drop_streams, methods=["POST"]),
        Route("/listen-key/expire", c.expire_key, methods=["POST"]),
        Route("/liquidation", c.liquidation, methods=["POST"]),
        Route("/deposit", c.deposit, methods=["POST"]),
        Route("/reset", c.reset, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={_BadRequest: _bad_request})
