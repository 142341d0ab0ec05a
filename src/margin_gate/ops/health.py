"""`/healthz`, `/readyz` and `/metrics`: a pure ASGI handler the gateway app mounts in one line.

    ops = OpsEndpoints(readiness=lambda: account_readiness(store, accounts),
                       metrics=metrics, draining=lambda: shutdown.draining)
    # GatewayApp.__call__, before the gateway (`return` after it):
    if scope["type"] == "http" and scope["path"] in OPS_PATHS: await ops(scope, receive, send)

- `/healthz`: 200 `{"status":"ok"}` while the process serves requests at all.
- `/readyz`: 200 `{"ready":true,"checks":{"main":{"ready":true}}}` when every check is ready;
  else 503 with each failing check's reason (`{"ready":false,"checks":{"main":{"ready":false,
  "reason":"user stream down since 3.2 s"}}}`); 503 `{"ready":false,"draining":true,...}` once
  shutdown has begun, so a load balancer stops sending new requests.
- `/metrics`: the Prometheus text format (ops/metrics.py `GatewayMetrics.render`).

GET and HEAD only (405 otherwise). `allow` (networks) limits who may call them (403 otherwise):
the metrics name accounts and show their uniMMR, which bots need not see. These paths never
reach an exchange: the gateway routes by the first path segment and has no such prefix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from collections.abc import Iterable

import orjson
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.samples import Readiness

__all__ = ["OPS_PATHS", "Answer", "OpsEndpoints", "ReadinessCheck"]

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
ReadinessCheck = Callable[[], Iterable[Readiness]]
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _json(status: int, body: object) -> Answer:
    return status, [_JSON, _NO_STORE], orjson.dumps(body)


class OpsEndpoints:
    """Answers the three ops paths; any other path is a 404 (the app routes only these here)."""

    def __init__(
        self,
        *,
        readiness: ReadinessCheck | None = None,
        metrics: GatewayMetrics | None = None,
        draining: Callable[[], bool] | None = None,
        allow: Iterable[str] | None = None,
    ) -> None:
        self._readiness = readiness
        self._metrics = metrics
        self._draining = draining
        self._allow: tuple[_Network, ...] | None = (
            None if allow is None else tuple(ipaddress.ip_network(a, strict=False) for a in allow)
        )

    @staticmethod
    def handles(path: str) -> bool:
        return path in OPS_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        status, headers, body = self.answer(
            scope["method"], scope["path"], client[0] if client else None
        )
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    def answer(self, method: str, path: str, client: str | None = None) -> Answer:
        """The answer to one request (no I/O; usable without a server)."""
        if not self._allowed(client):
            return _json(403, {"error": "forbidden"})
        if method not in ("GET", "HEAD"):
            status, headers, body = _json(405, {"error": "method not allowed"})
            headers.append((b"allow", b"GET, HEAD"))
            return status, headers, body
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            return self.ready()
        if path == "/metrics":
            if self._metrics is None:
                return _json(404, {"error": "metrics not enabled"})
            data, content_type = self._metrics.render()
            return 200, [(b"content-type", content_type.encode()), _NO_STORE], data
        return _json(404, {"error": "not found"})

    def ready(self) -> Answer:
        checks: dict[str, dict[str, object]] = {}
        ready = True
        try:
            results = list(self._readiness()) if self._readiness is not None else []
        except Exception as exc:
            results = [Readiness("readiness", False, f"check failed: {type(exc).__name__}")]
        for r in results:
            checks[r.name] = {"ready": r.ready} if r.ready else {"ready": False, "reason": r.reason}
            ready = ready and r.ready
        body: dict[str, object] = {"ready": ready, "checks": checks}
        if self._draining is not None and self._draining():
            body["ready"] = False
            body["draining"] = True
            ready = False
        return _json(200 if ready else 503, body)

    def _allowed(self, client: str | None) -> bool:
        if self._allow is None:
            return True
        if client is None:
            return False
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in network for network in self._allow)
