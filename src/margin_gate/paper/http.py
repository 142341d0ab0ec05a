"""The paper exchange's REST edge: a pure ASGI app that dispatches Binance paths to handlers.

One dict lookup per request (no regex routing), Binance's parameter parsing and signature
checks, rate-limit headers, and one place that turns results into HTTP: a handler returns JSON
data or a `BinanceError`; anything it raises becomes -1000 JSON (never a traceback). Unknown
paths answer 404 `{"code": -5000, "msg": "Path ..., Method ... is invalid"}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

import orjson

from margin_gate.paper.auth import Keyring
from margin_gate.paper.errors import not_found
from margin_gate.paper.limits import MinuteCounter
from margin_gate.paper.numbers import plain
from margin_gate.wire.errors import PAYLOAD_TOO_LARGE
from margin_gate.wire.errors import UNKNOWN
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params
from margin_gate.wire.params import parse_params

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = ["Call", "Endpoint", "RestApp", "Routes", "Security"]

_log = logging.getLogger("margin_gate.paper")
_MAX_BODY = 1 << 20
_JSON = (b"content-type", b"application/json")

Security = Literal["NONE", "API_KEY", "SIGNED"]


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the engine, the parsed parameters and who is calling."""

    exchange: PaperExchange
    params: Params
    api_key: str | None
    method: str
    path: str


Handler = Callable[[Call], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    security: Security = "SIGNED"
    weight: int = 1
    is_order: bool = False  # reports X-MBX-ORDER-COUNT-1M


Routes = dict[tuple[str, str], Endpoint]


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class RestApp:
    def __init__(self, exchange: PaperExchange, keyring: Keyring, routes: Routes) -> None:
        self.exchange = exchange
        self.keyring = keyring
        self.routes = routes
        self._weight = MinuteCounter()
        self._orders = MinuteCounter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        path: str = scope["path"]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > _MAX_BODY:
                await self._send(send, PAYLOAD_TOO_LARGE.status, PAYLOAD_TOO_LARGE.body(), [])
                return
        endpoint = self.routes.get((method, path))
        now = self.exchange.now()
        weight = self._weight.add(endpoint.weight if endpoint else 1, now)
        headers = [(b"x-mbx-used-weight-1m", str(weight).encode())]
        if endpoint is None:
            error = not_found(method, path)
            await self._send(send, error.status, error.body(), headers)
            return
        if endpoint.is_order:
            headers.append((b"x-mbx-order-count-1m", str(self._orders.add(1, now)).encode()))
        status, payload = self._dispatch(endpoint, scope, method, path, body, now)
        await self._send(send, status, payload, headers)

    def _dispatch(
        self, endpoint: Endpoint, scope: Any, method: str, path: str, body: bytes, now: int
    ) -> tuple[int, bytes]:
        params = parse_params(method, scope.get("query_string", b""), body)
        if isinstance(params, BinanceError):
            return params.status, params.body()
        api_key = _header(scope, b"x-mbx-apikey")
        if endpoint.security == "SIGNED":
            problem = self.keyring.check_signed(api_key, params, now)
        elif endpoint.security == "API_KEY":
            problem = self.keyring.check_key(api_key)
        else:
            problem = None
        if problem is not None:
            return problem.status, problem.body()
        try:
            result = endpoint.handler(Call(self.exchange, params, api_key, method, path))
            if isinstance(result, BinanceError):
                return result.status, result.body()
            return 200, orjson.dumps(result, default=_default)
        except Exception:
            _log.exception("paper exchange handler failed: %s %s", method, path)
            return UNKNOWN.status, UNKNOWN.body()

    @staticmethod
    async def _send(
        send: Any, status: int, payload: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(payload)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
