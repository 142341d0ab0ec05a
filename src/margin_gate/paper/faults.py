"""Injected faults for the next N requests or a path pattern: latency, 5xx, timeout, -1008.

A pure ASGI middleware in front of the REST app (the control API and WebSockets are never
affected). Rules are tried in the order added; the first matching one applies and counts down.

    latency   sleep `ms`, then serve normally
    error     answer `status` (5xx) with {"code", "msg"}; `execute` also runs the request first
    timeout   hang `ms`, then 503 -1007 "execution status unknown"; `execute` runs it first
    throttle  503 -1008 "Request throttled by system-level protection" (binance-pm.md §3.5)
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any
from typing import Literal

import orjson

from margin_gate.wire.errors import TIMEOUT

__all__ = ["FaultInjector", "FaultKind", "FaultRule", "Faults"]

FaultKind = Literal["latency", "error", "timeout", "throttle"]
_THROTTLED = (
    -1008,
    "Request throttled by system-level protection. Reduce-only/close-position orders are "
    "exempt. Please try again.",
)
_INTERNAL = (-1001, "Internal error; unable to process your request. Please try again.")


@dataclass(slots=True)
class FaultRule:
    kind: FaultKind
    path: str = "*"  # fnmatch pattern on the request path
    method: str = "*"
    count: int | None = 1  # requests left; None = until cleared
    ms: int = 0
    status: int = 0
    code: int = 0
    msg: str = ""
    execute: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def clear(self) -> None:
        self.rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
                return rule
        return None


def _answer(rule: FaultRule) -> tuple[int, bytes]:
    if rule.kind == "timeout":
        return TIMEOUT.status, TIMEOUT.body()
    if rule.kind == "throttle":
        code, msg = _THROTTLED
        return 503, orjson.dumps({"code": rule.code or code, "msg": rule.msg or msg})
    code, msg = _INTERNAL
    return rule.status or 500, orjson.dumps({"code": rule.code or code, "msg": rule.msg or msg})


class FaultInjector:
    def __init__(self, app: Any, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.faults.rules:
            await self.app(scope, receive, send)
            return
        rule = self.faults.take(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "latency":
            await asyncio.sleep(rule.ms / 1000)
            await self.app(scope, receive, send)
            return
        if rule.execute:
            await self.app(scope, receive, _discard)
        if rule.kind == "timeout":
            await asyncio.sleep((rule.ms or 10_000) / 1000)
        status, body = _answer(rule)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _discard(message: Any) -> None:
    return None
