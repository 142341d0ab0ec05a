"""The decision seam: one hook decides every order-entry request; one observer sees every request.

    handler ──classify──> Route(kind="order", order_kind=...)
       │  authenticated, allowed
       ▼
    ctx = OrderContext(request_id, bot, account, method, path, route, params, received_at_ms)
    decision = await hook.decide(ctx)           # Accept() | Reject(error, rule, headers)
       ├─ Reject -> the bot gets reject.error (Binance JSON) + reject.headers; nothing is sent
       └─ Accept -> forwarded once (never retried), then
                    await hook.settle(ctx, decision, outcome)   # before the bot gets its answer
    observer.observe(RequestRecord(...))       # every request, refused ones included

`decide` may reserve margin and return it inside `Accept(reservation=...)`; `settle` sees the
upstream `Outcome` (fate answered/unknown/not_sent, status, body, Binance code, orderId) and
converts or releases the reservation. `settle` runs only after an `Accept`. A hook that raises
makes the request answer -1000 (nothing forwarded if `decide` raised).

The replay check of an order is answered late (`ctx.replay`): `decide` should await it after
its reservation's round trip and refuse a replayed order as an auth failure (rule
`auth.replay`); whatever the hook does, the handler awaits it before forwarding.

`observe` must not block (the audit writer enqueues on a bounded queue); it is called once per
request after the answer is known, with the rule that refused it if one did.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Literal
from typing import Protocol

import orjson

from margin_gate.auth.bots import Bot
from margin_gate.auth.bots import ReplayCheck
from margin_gate.proxy.routes import Route
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params

__all__ = [
    "Accept",
    "AcceptAll",
    "BotApi",
    "Decision",
    "DecisionHook",
    "Fate",
    "LocalAnswer",
    "NullObserver",
    "OperatorApi",
    "OrderContext",
    "Outcome",
    "Permissions",
    "Reject",
    "RequestObserver",
    "RequestRecord",
]

Fate = Literal[
    "refused",  # the gateway answered; nothing was sent upstream
    "answered",  # the upstream answered; its status and body were relayed
    "unknown",  # sent (or maybe sent) but no answer: the order's fate is unknown (-1007)
    "not_sent",  # the upstream could not be reached; nothing was sent
]


# The per-request types below are plain (not frozen) slotted dataclasses: a frozen one pays
# object.__setattr__ per field on construction, on a path that builds several per order.
# Nothing mutates them after construction.


@dataclass(slots=True)
class OrderContext:
    request_id: str
    bot: Bot
    account: str
    method: str
    path: str
    route: Route
    params: Params  # merged query + body, exactly what will be forwarded (bar timestamp)
    received_at_ms: int
    # The bot's replay check, started but not yet answered: `decide` awaits it once its own
    # round trips are done (a replayed order is refused, its reservation released); the
    # handler awaits it (again: answered once) before anything is forwarded.
    replay: ReplayCheck | None = None


@dataclass(slots=True)
class Accept:
    reservation: object | None = None  # whatever `decide` wants back in `settle`
    headers: Mapping[str, str] = field(default_factory=dict)  # added to the upstream's answer
    params: Params | None = None  # forward these instead of ctx.params (e.g. an injected id)
    reserve_us: int | None = None  # time spent reserving (metrics)


@dataclass(slots=True)
class Reject:
    error: BinanceError
    rule: str  # which check refused it, e.g. "policy.min_unimmr_after"
    headers: Mapping[str, str] = field(default_factory=dict)
    reserve_us: int | None = None  # time spent reserving (metrics)


Decision = Accept | Reject
LocalAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]  # (status, headers, body)


@dataclass(slots=True)
class Outcome:
    """What became of a forwarded request. The body is parsed once, on first use."""

    fate: Fate
    status: int
    body: bytes
    _json: dict[str, object] | None | bool = field(
        default=False, init=False, repr=False, compare=False
    )

    def _object(self) -> dict[str, object] | None:
        parsed = self._json
        if parsed is False:
            parsed = self._json = _json_object(self.body)
        return parsed if isinstance(parsed, dict) else None

    @property
    def code(self) -> int | None:
        """Binance error code when the body is `{"code": <int>, ...}`."""
        parsed = self._object()
        code = parsed.get("code") if parsed else None
        return code if isinstance(code, int) else None

    @property
    def order_id(self) -> int | None:
        parsed = self._object()
        oid = parsed.get("orderId") if parsed else None
        return oid if isinstance(oid, int) else None


def _json_object(body: bytes) -> dict[str, object] | None:
    if not body.startswith(b"{"):
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class DecisionHook(Protocol):
    async def decide(self, ctx: OrderContext) -> Decision: ...

    async def settle(self, ctx: OrderContext, decision: Accept, outcome: Outcome) -> None: ...


class BotApi(Protocol):
    """margin-gate's own signed bot endpoints under /gateway (proxy/local_api.py)."""

    async def handle(
        self, bot: Bot, method: str, path: str, params: Params, request_id: str
    ) -> LocalAnswer: ...


class OperatorApi(Protocol):
    """The operator endpoints under /operator, on their own token (proxy/operator_api.py)."""

    async def handle(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[bytes, bytes]],
        query: bytes,
        body: bytes,
    ) -> LocalAnswer: ...


class Permissions(Protocol):
    """What a bot's effective profile lets it call (policy/profile.py)."""

    def money_out(self, bot: Bot) -> bool: ...

    def endpoint(self, bot: Bot, method: str, path: str) -> bool: ...


class AcceptAll:
    """Today's hook: every order is accepted (the margin engine replaces it)."""

    _ACCEPT = Accept()

    async def decide(self, ctx: OrderContext) -> Decision:
        return self._ACCEPT

    async def settle(self, ctx: OrderContext, decision: Accept, outcome: Outcome) -> None:
        return None


@dataclass(slots=True)
class RequestRecord:
    """One request as the audit sees it. Holds no key material (params exclude the signature)."""

    request_id: str
    received_at_ms: int
    method: str
    path: str
    route: Route | None  # None: the path was refused before routing
    bot: str | None
    account: str | None
    status: int  # HTTP status the client got
    code: int | None  # Binance code in the answer, when it is an error we produced
    rule: str | None  # what refused it ("auth.signature", "route.money_out", "gate.<rule>")
    fate: Fate
    params: Params | None = None
    duration_ms: float = 0.0
    msg: str | None = None  # the error message we answered with, when we refused
    # stage timings in µs (None: the stage did not run): signature/replay check, the hook's
    # decide (reserve included), its reserve step, the upstream round trip
    auth_us: int | None = None
    check_us: int | None = None
    reserve_us: int | None = None
    upstream_us: int | None = None


class RequestObserver(Protocol):
    def observe(self, record: RequestRecord) -> None: ...


class NullObserver:
    def observe(self, record: RequestRecord) -> None:
        return None
