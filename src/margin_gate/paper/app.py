"""`create_app`: the paper exchange as one Starlette app (REST, WebSockets, control API).

Routing: WebSocket paths first (`/pm/ws/{listenKey}`, `/ws/<stream>`, `/market/ws/<stream>`,
`/stream`, `/market/stream`), then `/paper/control` when enabled, and every other path goes to
the REST dispatcher (behind fault injection). The lifespan runs the 1 s mark/listenKey ticker
and the liquidation driver; nothing else runs in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.routing import Mount
from starlette.routing import WebSocketRoute

from margin_gate.clock import Clock
from margin_gate.paper.auth import Keyring
from margin_gate.paper.control import control_app
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.faults import FaultInjector
from margin_gate.paper.faults import Faults
from margin_gate.paper.http import RestApp
from margin_gate.paper.http import Routes
from margin_gate.paper.listenkeys import ListenKeys
from margin_gate.paper.routes_account import account_routes
from margin_gate.paper.routes_margin import margin_routes
from margin_gate.paper.routes_public import public_routes
from margin_gate.paper.routes_trade import trade_routes
from margin_gate.paper.schema import PaperState
from margin_gate.paper.streams import StreamHub
from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

__all__ = ["create_app"]

_CONTROL_PREFIX = "/paper/control"


def _routes(keys: ListenKeys) -> Routes:
    routes: Routes = {}
    for table in (public_routes(), account_routes(keys), trade_routes(), margin_routes()):
        routes.update(table)
    return routes


async def _liquidation_driver(ex: PaperExchange, hub: StreamHub) -> None:
    """Run a due liquidation after the configured delay, unless the control API holds it."""
    while True:
        await hub.liquidation_wakeup.wait()
        hub.liquidation_wakeup.clear()
        await asyncio.sleep(ex.state.risk.liquidation_delay_ms / 1000)
        await hub.liquidation_release.wait()
        ex.run_liquidation()


class _Rest:
    """The REST app as the router's fallback; WebSocket requests to unknown paths are refused."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


class _PaperApp(Starlette):
    """Starlette for WebSockets, lifespan and the control API; plain REST requests skip its
    middleware and router and go straight to the dispatcher (the paper exchange is the
    upstream of the benchmarks, so its per-request cost matters)."""

    def __init__(self, rest: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rest = rest
        self.router.default = _Rest(rest)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(_CONTROL_PREFIX):
            await self._rest(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    state: PaperState, *, control_api: bool = False, clock: Clock | None = None
) -> Starlette:
    keys = ListenKeys(state.seed)
    hub = StreamHub(keys)
    exchange = PaperExchange(state, clock=clock, sink=hub)
    hub.exchange = exchange
    faults = Faults()
    rest = FaultInjector(RestApp(exchange, Keyring(state.keys), _routes(keys)), faults)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [
            spawn(hub.tick_forever(), name="paper-mark-ticker"),
            spawn(_liquidation_driver(exchange, hub), name="paper-liquidation"),
        ]
        try:
            yield
        finally:
            hub.drop_users()
            await cancel_all(tasks)

    routes: list[BaseRoute] = [
        WebSocketRoute("/pm/ws/{listen_key}", hub.user_endpoint),
        WebSocketRoute("/ws", hub.market_endpoint),
        WebSocketRoute("/ws/{stream}", hub.market_endpoint),
        WebSocketRoute("/market/ws", hub.market_endpoint),
        WebSocketRoute("/market/ws/{stream}", hub.market_endpoint),
        WebSocketRoute("/stream", hub.market_endpoint),
        WebSocketRoute("/market/stream", hub.market_endpoint),
    ]
    if control_api:
        routes.append(Mount(_CONTROL_PREFIX, app=control_app(exchange, hub, faults)))
    app = _PaperApp(rest, routes=routes, lifespan=lifespan)
    app.state.exchange = exchange
    app.state.hub = hub
    app.state.faults = faults
    return app
