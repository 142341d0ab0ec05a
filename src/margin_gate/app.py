"""The gateway ASGI app and its lifespan, which owns every resource of the order path.

`create_app(settings, ...)` wires settings into a `Gateway` (proxy/handler.py). Collaborators are
injected (STYLE §10): the decision `hook` (default: the `RiskGate` — policy, live state, audit —
built by the lifespan; tests of the forwarding layer pass `AcceptAll`), the `observer`, the
`clock`, the `upstream` client (`[upstream] client`, proxy/h1.py by default) and the `replay`
guard (in-process; shared through Redis when `[state] backend = "redis"`).

Lifespan start order (closed in reverse, so the audit log is drained after everything that
writes to it): paper exchange → upstream client → aiohttp session → Redis client → audit log →
state runtime → halts → gate. See app_parts.py for the pieces.

With `[upstream] target = "paper"` the lifespan starts the bundled paper exchange in-process
(`margin_gate.paper.start_paper_server`, imported lazily) on 127.0.0.1 and routes every
configured prefix to it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from margin_gate.app_parts import CLOSE_ORDER
from margin_gate.app_parts import Closers
from margin_gate.app_parts import RiskParts
from margin_gate.app_parts import check_reload
from margin_gate.app_parts import start_risk
from margin_gate.auth.bots import BotAuth
from margin_gate.auth.replay import MemoryReplayGuard
from margin_gate.auth.replay import NoReplayGuard
from margin_gate.auth.replay import RedisReplayGuard
from margin_gate.auth.replay import ReplayGuard
from margin_gate.clock import Clock
from margin_gate.clock import SystemClock
from margin_gate.ops import OPS_PATHS
from margin_gate.ops import OpsKit
from margin_gate.ops import secrets_from_settings
from margin_gate.ops.logging import reclaim_uvicorn_loggers
from margin_gate.proxy.errors import NOT_READY
from margin_gate.proxy.errors import error_answer
from margin_gate.proxy.gate import AcceptAll
from margin_gate.proxy.gate import DecisionHook
from margin_gate.proxy.gate import NullObserver
from margin_gate.proxy.gate import RequestObserver
from margin_gate.proxy.h1 import H1Upstream
from margin_gate.proxy.handler import Gateway
from margin_gate.proxy.local_api import BotApi
from margin_gate.proxy.operator_api import OperatorApi
from margin_gate.proxy.upstream import AiohttpUpstream
from margin_gate.proxy.upstream import Upstream
from margin_gate.settings import ConfigError
from margin_gate.settings import Settings
from margin_gate.settings import load_settings

__all__ = ["GatewayApp", "create_app"]

_log = logging.getLogger("margin_gate.app")


class GatewayApp:
    """Pure ASGI app: `http` goes to the `Gateway`, `lifespan` runs `self.lifespan()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        hook: DecisionHook | None,
        observer: RequestObserver | None,
        clock: Clock,
        upstream: Upstream | None,
        replay: ReplayGuard | None,
    ) -> None:
        self.settings = settings
        self._hook = hook
        self._observer = observer
        self._clock = clock
        self._upstream = upstream
        self._replay = replay
        self.gateway: Gateway | None = None
        self.upstream_bases: dict[str, str] = {}
        self.risk: RiskParts | None = None  # the RiskGate and what it runs on (hook=None)
        server = settings.server
        self.ops = OpsKit(
            secrets=secrets_from_settings(settings),
            drain_s=server.drain_s,
            exit_within_s=server.shutdown_timeout_s,
            request_log=server.request_log,
            allow=server.ops_allow,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.gateway
        if scope["type"] == "http":
            if scope["path"] in OPS_PATHS:  # /healthz /readyz /metrics: never an exchange path
                await self.ops.endpoints(scope, receive, send)
                return
            if gateway is not None:
                await gateway(scope, receive, send)
                return
            status, headers, body = error_answer(NOT_READY)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[GatewayApp]:
        """Start everything the gateway runs on; on exit drain and close it in order
        (`OpsKit.stop`: in-flight requests, then the `CLOSE_ORDER` steps), the exit stack
        closing whatever start-up opened should start-up fail."""
        s = self.settings
        ops = self.ops
        if s.upstream.timeout_s > s.server.drain_s:
            _log.warning(
                "[server] drain_s (%s s) < [upstream] timeout_s (%s s): an order still waiting "
                "for the exchange at shutdown may be cut off",
                s.server.drain_s,
                s.upstream.timeout_s,
            )
        async with AsyncExitStack() as stack:
            closers = Closers(stack)
            bases = dict(s.upstream.urls)
            if s.upstream.target == "paper":
                paper_url = await _start_paper(closers, s)
                bases = {prefix: paper_url for prefix in bases}
            upstream = _make_upstream(s) if self._upstream is None else self._upstream
            closers.add("upstream", upstream.aclose)
            self.upstream_bases = bases
            hook, observer, replay = self._hook, self._observer, self._replay
            bot_api = operator = perm = None
            if hook is None and not s.policy.enforce:
                _log.warning("[policy] enforce = false: orders are forwarded UNCHECKED")
                hook = AcceptAll()
            if hook is None:
                self.risk = risk = await start_risk(closers, s, bases, self._clock)
                hook, perm = risk.gate, risk.gate
                ops.watch_state(risk.runtime, list(s.accounts))
                ops.watch_audit(risk.audit.log)
                # The audit observer before the answer: a refusal's records are written before
                # the bot gets it; metrics and the log line after it (`after` below).
                observer = risk.audit if observer is None else observer
                bot_api = BotApi(risk.gate)
                token = s.operator.token.value if s.operator.token is not None else None
                operator = OperatorApi(
                    token, risk.halts, risk.audit, self._clock, self._known, self.reload
                )
                if replay is None and risk.redis is not None and s.state.backend == "redis":
                    replay = RedisReplayGuard(risk.redis, f"{s.state.key_prefix}:replay")
            else:
                ops.ready_without_state()  # no account state to wait for
                observer = NullObserver() if observer is None else observer
            self._replay = replay = replay if replay is not None else _local_replay(s)
            closers.schedule(ops.shutdown, CLOSE_ORDER)
            self.gateway = Gateway(
                auth=BotAuth(s.bots.values(), s.profiles, replay),
                accounts=s.accounts,
                bases=bases,
                upstream=upstream,
                hook=hook,
                observer=observer,
                clock=self._clock,
                max_body_bytes=s.server.max_body_bytes,
                bot_api=bot_api,
                operator=operator,
                permissions=perm,
                in_flight=ops.in_flight,
                draining=lambda: ops.shutdown.draining,
                after=ops.after_answer(),
            )
            ops.start()
            _log.info(
                "margin-gate ready: %d bot(s), %d account(s), upstreams %s",
                len(s.bots),
                len(s.accounts),
                ", ".join(f"/{p} -> {u}" for p, u in sorted(bases.items())),
            )
            try:
                yield self
            finally:
                # Drain what is in flight, then close in CLOSE_ORDER (each step bounded);
                # the exit stack then finds every closer already run.
                await ops.stop()
                self.gateway = None
                self.risk = None

    def _known(self) -> tuple[list[str], list[str]]:
        return list(self.settings.accounts), list(self.settings.bots)

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file: bots and profiles change in place; anything else needs a
        restart (ConfigError naming the section). A bad file leaves the running config as is."""
        old, risk, gateway = self.settings, self.risk, self.gateway
        if old.source is None or risk is None or gateway is None:
            raise ConfigError("reload: the gateway was not started from a config file")
        new = load_settings(old.source).with_server(host=old.server.host, port=old.server.port)
        profiles = check_reload(old, new, risk.engine)
        assert self._replay is not None
        gateway.auth = BotAuth(new.bots.values(), new.profiles, self._replay)
        risk.gate.profiles = profiles
        self.settings = new
        _log.warning("config reloaded: %d bot(s), %d profile(s)", len(new.bots), len(new.profiles))
        return {"bots": sorted(new.bots), "profiles": sorted(new.profiles)}

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        context = self.lifespan()
        try:
            await context.__aenter__()
        except Exception as exc:
            _log.error("start-up failed: %s: %s", type(exc).__name__, exc)
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            await context.__aexit__(None, None, None)
        except Exception as exc:
            _log.error("shutdown failed: %s: %s", type(exc).__name__, exc)
            await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})


async def _start_paper(closers: Closers, settings: Settings) -> str:
    try:
        from margin_gate.paper import start_paper_server  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise RuntimeError(
            "upstream.target = 'paper' but margin_gate.paper is not available"
        ) from exc
    server: Any = await start_paper_server(settings.upstream.paper_state, host="127.0.0.1", port=0)
    closers.add("paper", server.stop)
    reclaim_uvicorn_loggers()  # its uvicorn.Config re-pointed uvicorn's loggers
    url: str = server.url
    _log.info("paper exchange started at %s (state %s)", url, settings.upstream.paper_state)
    return url


def _make_upstream(settings: Settings) -> Upstream:
    u = settings.upstream
    client = H1Upstream if u.client == "h1" else AiohttpUpstream
    return client(
        connect_timeout_s=u.connect_timeout_s,
        timeout_s=u.timeout_s,
        pool_size=u.pool_size,
        keepalive_s=u.keepalive_s,
    )


def create_app(
    settings: Settings,
    *,
    hook: DecisionHook | None = None,
    observer: RequestObserver | None = None,
    clock: Clock | None = None,
    upstream: Upstream | None = None,
    replay: ReplayGuard | None = None,
) -> GatewayApp:
    """The gateway app. `hook=None`: the RiskGate (policy + state + audit), started by the
    lifespan; pass `AcceptAll()` to run the forwarding layer alone."""
    if replay is None and not settings.auth.replay_protection:
        replay = NoReplayGuard()
    return GatewayApp(
        settings,
        hook=hook,
        observer=observer,
        clock=SystemClock() if clock is None else clock,
        upstream=upstream,
        replay=replay,
    )


def _local_replay(settings: Settings) -> ReplayGuard:
    if not settings.auth.replay_protection:
        return NoReplayGuard()
    return MemoryReplayGuard(settings.auth.replay_max_entries)
