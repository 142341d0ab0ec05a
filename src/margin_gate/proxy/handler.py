"""The request path: route, authenticate, decide (orders), forward once, relay, observe.

A pure ASGI callable (no Starlette Request/Response objects on the hot path; see README's
benchmark). Each request is answered exactly once: with the upstream's status, body and
rate-limit headers, or with a Binance-format error from proxy/errors.py. Every request, refused
or forwarded, is reported once to the `RequestObserver` (proxy/gate.py) before its answer is
sent (the audit: a refusal's records are on disk before the bot sees it), and once to the
`after` observer (metrics, the request log line) just after: off the answer's latency.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Protocol

from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from margin_gate.auth.bots import Bot
from margin_gate.auth.bots import BotAuth
from margin_gate.auth.bots import ReplayCheck
from margin_gate.auth.bots import auth_rule
from margin_gate.clock import Clock
from margin_gate.ops.logging import request_id as _REQUEST_ID
from margin_gate.proxy.errors import BAD_PATH
from margin_gate.proxy.errors import METHOD_NOT_ALLOWED
from margin_gate.proxy.errors import MONEY_OUT_REFUSED
from margin_gate.proxy.errors import NO_ROUTE
from margin_gate.proxy.errors import NOT_ALLOWED
from margin_gate.proxy.errors import PROFILE_NOT_ALLOWED
from margin_gate.proxy.errors import encode_headers
from margin_gate.proxy.errors import error_answer
from margin_gate.proxy.errors import from_exception
from margin_gate.proxy.errors import from_upstream_error
from margin_gate.proxy.forward import Outbound
from margin_gate.proxy.forward import raw_request
from margin_gate.proxy.forward import resigned_request
from margin_gate.proxy.forward import send as send_upstream
from margin_gate.proxy.gate import Accept
from margin_gate.proxy.gate import BotApi
from margin_gate.proxy.gate import DecisionHook
from margin_gate.proxy.gate import NullObserver
from margin_gate.proxy.gate import OperatorApi
from margin_gate.proxy.gate import OrderContext
from margin_gate.proxy.gate import Outcome
from margin_gate.proxy.gate import Permissions
from margin_gate.proxy.gate import RequestObserver
from margin_gate.proxy.gate import RequestRecord
from margin_gate.proxy.routes import Route
from margin_gate.proxy.routes import check_path
from margin_gate.proxy.routes import classify
from margin_gate.proxy.upstream import Upstream
from margin_gate.proxy.upstream import UpstreamError
from margin_gate.proxy.upstream import UpstreamUnreachable
from margin_gate.settings import Account
from margin_gate.wire.errors import ILLEGAL_CHARS
from margin_gate.wire.errors import PAYLOAD_TOO_LARGE
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params
from margin_gate.wire.params import parse_params

__all__ = ["Gateway", "InFlightCounter"]

_log = logging.getLogger("margin_gate.proxy")
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


# A query string we pass on untouched: visible ASCII only (no space, CR/LF or controls that
# could split the upstream request line).
_QUERY_CHARS = re.compile(rb"[\x21-\x7e]*")
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})  # all Binance's REST API uses


_CONNECTION_CLOSE = (b"connection", b"close")
_ROUTE_CACHE = 4096  # (method, raw path) -> (path, route) entries
_BAD_PATH = ("", Route("other", ""))  # the memo's "refused path" (compared by identity)


class InFlightCounter(Protocol):
    """Counts requests in progress (ops/shutdown.py `InFlight`)."""

    def enter(self) -> None: ...

    def exit(self) -> None: ...


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


# What one request became is written straight into its `RequestRecord` (`flow` below), which
# the observer then gets as it is: no separate state object copied into a record at the end.


def _refuse(
    flow: RequestRecord,
    error: BinanceError,
    rule: str,
    extra: Mapping[str, str] | None = None,
) -> Answer:
    flow.code = error.code
    flow.msg = error.msg
    flow.rule = rule
    flow.fate = "refused"
    return error_answer(error, extra)


class Gateway:
    def __init__(
        self,
        *,
        auth: BotAuth,
        accounts: Mapping[str, Account],
        bases: Mapping[str, str],
        upstream: Upstream,
        hook: DecisionHook,
        observer: RequestObserver,
        clock: Clock,
        max_body_bytes: int,
        bot_api: BotApi | None = None,
        operator: OperatorApi | None = None,
        permissions: Permissions | None = None,
        in_flight: InFlightCounter | None = None,
        draining: Callable[[], bool] | None = None,
        after: RequestObserver | None = None,
    ) -> None:
        self.auth = auth
        self._in_flight = in_flight
        self._draining = draining
        self._bot_api = bot_api
        self._operator = operator
        self._perm = permissions
        self._accounts = accounts
        self._bases = dict(bases)
        self._upstream = upstream
        self._hook = hook
        self._observer = observer
        # The no-op observer needs no record: skip building one (~3 % of a request's CPU).
        self._observing = not isinstance(observer, NullObserver)
        self._after = None if isinstance(after, NullObserver) else after
        self._clock = clock
        self._max_body = max_body_bytes
        self._ids = itertools.count(1)
        self._routes: dict[tuple[str, bytes], tuple[str, Route]] = {}
        self._id_prefix = f"{os.getpid():x}-{int(time.time()):x}-"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        flow = RequestRecord(
            request_id,
            self._clock.now_ms(),
            scope["method"],
            scope["path"],
            None,  # route
            None,  # bot
            None,  # account
            0,  # status
            None,  # code
            None,  # rule
            "refused",
        )
        token = _REQUEST_ID.set(request_id)  # every log line of this request carries it
        in_flight = self._in_flight
        if in_flight is not None:
            in_flight.enter()
        try:
            await self._serve(scope, receive, send, flow, started)
        finally:
            if in_flight is not None:
                in_flight.exit()
            _REQUEST_ID.reset(token)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, flow: RequestRecord, started: float
    ) -> None:
        request_id = flow.request_id
        try:
            answer = await self._handle(scope, receive, flow, request_id, flow.received_at_ms)
        except _ClientGone:
            return
        except Exception as exc:
            answer = _refuse(flow, from_exception(exc, request_id), "gateway.internal")
        status, headers, body = answer
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        headers.append((b"x-request-id", request_id.encode("ascii")))
        if self._draining is not None and self._draining():
            # Shutting down: this connection gets no further request (uvicorn closes it after
            # this answer, which tells the client so), instead of a close racing its next one.
            headers.append(_CONNECTION_CLOSE)
        after = self._after
        if self._observing or after is not None:
            flow.status = status
            flow.duration_ms = (time.perf_counter() - started) * 1000
        if self._observing:
            # Before the answer leaves: a refusal's records are on disk before the bot sees it.
            try:
                self._observer.observe(flow)
            except Exception as exc:
                _log.error("observer failed for %s: %s", request_id, type(exc).__name__)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        try:
            await send({"type": "http.response.body", "body": body})
        finally:
            if after is not None:
                try:
                    after.observe(flow)
                except Exception as exc:
                    _log.error("observer failed for %s: %s", request_id, type(exc).__name__)

    async def _handle(
        self, scope: Scope, receive: Receive, flow: RequestRecord, request_id: str, received_at: int
    ) -> Answer:
        method = flow.method
        if method not in _METHODS:
            return _refuse(flow, METHOD_NOT_ALLOWED, "route.method")
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("latin-1")
        routed = self._routes.get((method, raw_path)) or self._route(method, raw_path)
        if routed is _BAD_PATH:
            return _refuse(flow, BAD_PATH, "route.bad_path")
        path, route = routed
        flow.path = path
        flow.route = route
        if route.prefix == "operator" and self._operator is not None:
            _, body = await self._read(scope, receive)
            if body is None:
                return _refuse(flow, PAYLOAD_TOO_LARGE, "request.body_too_large")
            q: bytes = scope["query_string"]
            return await self._operator.handle(method, path, scope["headers"], q, body)
        if route.prefix == "gateway" and self._bot_api is not None:
            return await self._local(scope, receive, flow, request_id)
        base = self._bases.get(route.prefix)
        if base is None:
            return _refuse(flow, NO_ROUTE, "route.unknown_prefix")
        api_key, body = await self._read(scope, receive)
        if body is None:
            return _refuse(flow, PAYLOAD_TOO_LARGE, "request.body_too_large")
        query: bytes = scope["query_string"]
        signed = b"signature=" in query or b"signature=" in body
        if route.kind == "other" and not signed:
            # Public: no key of ours is attached and the bot's key is not forwarded.
            if not _QUERY_CHARS.fullmatch(query):
                return _refuse(flow, ILLEGAL_CHARS, "request.params")
            out = raw_request(method, base, path, query.decode("ascii"), body, None)
            return await self._forward(out, flow, retry=method == "GET")

        bot = self.auth.identify(api_key)
        if isinstance(bot, BinanceError):
            return _refuse(flow, bot, "auth.api_key")
        flow.bot, flow.account = bot.name, bot.account
        if route.kind == "api_key" and not signed:
            # A client that signs its listenKey calls (the PM docs' reading of USER_STREAM,
            # §3.1) goes through the signed path below and is re-signed like any other.
            return await self._key_only(flow, bot, base, query, body)
        return await self._signed(flow, route, bot, base, query, body, request_id, received_at)

    def _route(self, method: str, raw_path: bytes) -> tuple[str, Route]:
        """check_path + classify (`_BAD_PATH` for a path we refuse), memoized: bots call a
        handful of endpoints. Bounded (a client can send any number of distinct paths):
        cleared when full."""
        path = check_path(raw_path)
        routed = _BAD_PATH if path is None else (path, classify(method, path))
        if len(self._routes) >= _ROUTE_CACHE:
            self._routes.clear()
        self._routes[(method, raw_path)] = routed
        return routed

    async def _local(
        self, scope: Scope, receive: Receive, flow: RequestRecord, request_id: str
    ) -> Answer:
        """/gateway/v1/*: authenticated and verified like any signed request, answered here."""
        assert self._bot_api is not None
        api_key, body = await self._read(scope, receive)
        if body is None:
            return _refuse(flow, PAYLOAD_TOO_LARGE, "request.body_too_large")
        bot = self.auth.identify(api_key)
        if isinstance(bot, BinanceError):
            return _refuse(flow, bot, "auth.api_key")
        flow.bot, flow.account = bot.name, bot.account
        params = parse_params(flow.method, scope["query_string"], body)
        if isinstance(params, BinanceError):
            return _refuse(flow, params, "request.params")
        flow.params = params
        error = await self.auth.verify(
            bot, params, self._clock.now_ms(), f"{flow.method} {flow.path}"
        )
        if error is not None:
            return _refuse(flow, error, auth_rule(error))
        return await self._bot_api.handle(bot, flow.method, flow.path, params, request_id)

    async def _key_only(
        self, flow: RequestRecord, bot: Bot, base: str, query: bytes, body: bytes
    ) -> Answer:
        """API-key-only endpoints (listenKey): the bot's key checked, the account's sent."""
        if not bot.may_call(flow.method, flow.path):
            return _refuse(flow, NOT_ALLOWED, "bot.allow_endpoints")
        if not _QUERY_CHARS.fullmatch(query):
            return _refuse(flow, ILLEGAL_CHARS, "request.params")
        account = self._accounts[bot.account]
        out = raw_request(flow.method, base, flow.path, query.decode("ascii"), body, account)
        return await self._forward(out, flow, retry=flow.method == "GET")

    async def _signed(
        self,
        flow: RequestRecord,
        route: Route,
        bot: Bot,
        base: str,
        query: bytes,
        body: bytes,
        request_id: str,
        received_at: int,
    ) -> Answer:
        method = flow.method
        params = parse_params(method, query, body)
        if isinstance(params, BinanceError):
            return _refuse(flow, params, "request.params")
        flow.params = params
        t0 = time.perf_counter_ns()
        started = self.auth.begin_verify(bot, params, self._clock.now_ms(), f"{method} {flow.path}")
        if isinstance(started, BinanceError):
            return _refuse(flow, started, auth_rule(started))
        replay: ReplayCheck | None = started
        if route.kind != "order":  # orders answer it after their reservation (_order)
            error = await started.answer()
            if error is not None:
                return _refuse(flow, error, auth_rule(error))
            replay = None
        flow.auth_us = (time.perf_counter_ns() - t0) // 1000
        if not bot.may_call(method, flow.path):
            if replay is not None:  # started: answered (and recorded) before we refuse
                await replay.answer()
            return _refuse(flow, NOT_ALLOWED, "bot.allow_endpoints")
        perm = self._perm
        money_out = bot.allow_money_out if perm is None else perm.money_out(bot)
        if route.kind == "money_out" and not money_out:
            return _refuse(flow, MONEY_OUT_REFUSED, "route.money_out")
        if perm is not None and route.kind != "order" and not perm.endpoint(bot, method, flow.path):
            return _refuse(flow, PROFILE_NOT_ALLOWED, "policy.allowed_endpoints")
        account = self._accounts[bot.account]
        if replay is not None:
            return await self._order(
                flow, route, bot, account, base, params, request_id, received_at, replay
            )
        out = resigned_request(method, base, flow.path, params, account, self._clock.now_ms())
        return await self._forward(out, flow, retry=method == "GET")

    async def _order(
        self,
        flow: RequestRecord,
        route: Route,
        bot: Bot,
        account: Account,
        base: str,
        params: Params,
        request_id: str,
        received_at: int,
        replay: ReplayCheck,
    ) -> Answer:
        ctx = OrderContext(
            request_id, bot, bot.account, flow.method, flow.path, route, params, received_at,
            replay,
        )  # fmt: skip
        t0 = time.perf_counter_ns()
        try:
            decision = await self._hook.decide(ctx)
        except BaseException:
            replay.discard()
            raise
        t1 = time.perf_counter_ns()
        flow.check_us, flow.reserve_us = (t1 - t0) // 1000, decision.reserve_us
        replayed = await replay.answer()  # answered already when the hook awaited it
        if not isinstance(decision, Accept):
            rule = decision.rule  # the hook's own rules under "gate."; an auth rule (the
            # replay check it answered) is already namespaced
            if not rule.startswith("auth."):
                rule = f"gate.{rule}"
            return _refuse(flow, decision.error, rule, decision.headers)
        if replayed is not None:  # a hook that did not await it: nothing was sent
            with contextlib.suppress(Exception):
                await self._hook.settle(ctx, decision, Outcome("not_sent", 0, b""))
            return _refuse(flow, replayed, auth_rule(replayed))
        sent = params if decision.params is None else decision.params
        out = resigned_request(flow.method, base, flow.path, sent, account, self._clock.now_ms())
        answer = await self._forward(out, flow, retry=False)
        flow.upstream_us = (time.perf_counter_ns() - t1) // 1000
        if decision.headers:
            answer[1].extend(encode_headers(decision.headers))
        try:
            await self._hook.settle(ctx, decision, Outcome(flow.fate, answer[0], answer[2]))
        except Exception as exc:
            # The order went (or may have gone) upstream: the bot still gets its answer.
            from_exception(exc, request_id)
        return answer

    async def _forward(self, out: Outbound, flow: RequestRecord, *, retry: bool) -> Answer:
        try:
            resp = await send_upstream(self._upstream, out, retry_once=retry)
        except UpstreamError as exc:
            may_execute = out.method != "GET"
            error = from_upstream_error(exc, may_execute=may_execute)
            flow.code = error.code
            flow.rule = "upstream.error"
            if isinstance(exc, UpstreamUnreachable):
                flow.fate = "not_sent"
                _log.warning(
                    "%s %s: upstream unreachable (%s); not sent", out.method, flow.path, exc
                )
            elif may_execute:
                flow.fate = "unknown"
                _log.warning(
                    "%s %s: %s: %s; the request may have executed upstream, its fate is "
                    "UNKNOWN (answered %d to the bot)",
                    out.method,
                    flow.path,
                    type(exc).__name__,
                    exc,
                    error.code,
                )
            else:
                flow.fate = "unknown"
                _log.warning("%s %s: %s: %s", out.method, flow.path, type(exc).__name__, exc)
            return error_answer(error)
        flow.fate = "answered"
        return resp.status, list(resp.headers), resp.body

    async def _read(self, scope: Scope, receive: Receive) -> tuple[bytes | None, bytes | None]:
        """(X-MBX-APIKEY value, body); body None when it is over the limit."""
        api_key: bytes | None = None
        declared = 0
        for name, value in scope["headers"]:
            if name == b"x-mbx-apikey":
                api_key = value
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else 0
        if declared > self._max_body:
            return api_key, None
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            return api_key, body if len(body) <= self._max_body else None
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                return api_key, None
            chunks.append(chunk)
            if not message.get("more_body"):
                return api_key, b"".join(chunks)
