"""The operator API under /operator/v1, on its own bearer token (`[operator] token`); bot keys
never work here. Every action is audited as an event record.

    POST /operator/v1/halt     {"account": name} | {"bot": name}, optional "reason"
    POST /operator/v1/resume   {"account": name} | {"bot": name}
    GET  /operator/v1/halts    every halt in force
    POST /operator/v1/reload   re-read the config file (bots, profiles); see GatewayApp.reload

Bodies are JSON objects or form/query parameters. Anything else, or a missing or wrong token,
answers HTTP 401 {"code": -1002, "msg": ...} (token compared in constant time).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import orjson

from margin_gate.clock import Clock
from margin_gate.proxy.gate_audit import GateAudit
from margin_gate.proxy.halts import Halt
from margin_gate.proxy.halts import HaltStore
from margin_gate.proxy.halts import Scope
from margin_gate.proxy.local_api import json_answer
from margin_gate.settings.model import ConfigError
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import parse_params

__all__ = ["OperatorApi"]

_log = logging.getLogger("margin_gate.operator")
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
Known = Callable[[], tuple[Iterable[str], Iterable[str]]]  # (accounts, bots)
UNAUTHORIZED = {"code": -1002, "msg": "margin-gate: operator token required (Bearer)."}


class OperatorApi:
    def __init__(
        self,
        token: bytes | None,
        halts: HaltStore,
        audit: GateAudit,
        clock: Clock,
        known: Known,
        reload: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        self._expected = None if token is None else b"Bearer " + token
        self.halts = halts
        self.audit = audit
        self.clock = clock
        self.known = known
        self.reload = reload
        self.actions = 0

    def authorized(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        if self._expected is None:
            return False
        given = next((v for k, v in headers if k == b"authorization"), b"")
        return hmac.compare_digest(given, self._expected)

    async def handle(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[bytes, bytes]],
        query: bytes,
        body: bytes,
    ) -> Answer:
        if not self.authorized(headers):
            return json_answer(401, UNAUTHORIZED)
        key = path.lower().rstrip("/")
        args = _args(method, query, body)
        if args is None:
            return json_answer(400, {"error": "body must be a JSON object or form parameters"})
        if method == "GET" and key == "/operator/v1/halts":
            return json_answer(200, {"halts": [asdict(h) for h in self.halts.list()]})
        if method == "POST" and key in ("/operator/v1/halt", "/operator/v1/resume"):
            return await self._halt(key.endswith("halt"), args)
        if method == "POST" and key == "/operator/v1/reload":
            return await self._reload()
        return json_answer(404, {"error": f"no operator endpoint {method} {path}"})

    async def _halt(self, halting: bool, args: dict[str, str]) -> Answer:
        scopes = [s for s in ("account", "bot") if args.get(s)]
        if len(scopes) != 1:
            return json_answer(400, {"error": 'give exactly one of "account" or "bot"'})
        scope: Scope = "account" if scopes[0] == "account" else "bot"
        name = args[scope]
        accounts, bots = self.known()
        if name not in (accounts if scope == "account" else bots):
            return json_answer(400, {"error": f"unknown {scope} {name!r}"})
        reason = args.get("reason", "")[:200]
        if halting:
            await self.halts.halt(Halt(scope, name, reason, self.clock.now_ms()))
            changed = True
        else:
            changed = await self.halts.resume(scope, name)
        action = "halt" if halting else "resume"
        self._event(f"operator {action} {scope} {name}", {"scope": scope, "name": name,
                                                          "reason": reason})  # fmt: skip
        _log.warning("operator: %s %s %s (%s)", action, scope, name, reason or "no reason")
        return json_answer(200, {"action": action, scope: name, "changed": changed,
                                 "halts": [asdict(h) for h in self.halts.list()]})  # fmt: skip

    async def _reload(self) -> Answer:
        try:
            summary = await self.reload()
        except ConfigError as exc:
            self._event("operator reload refused", {"error": str(exc)})
            return json_answer(400, {"error": str(exc)})
        self._event("operator reload", {k: str(v) for k, v in summary.items()})
        return json_answer(200, {"action": "reload", **summary})

    def _event(self, msg: str, params: dict[str, str]) -> None:
        self.actions += 1
        log = self.audit.log
        if log is not None:
            try:
                log.write({"kind": "event", "msg": msg, "params": params})
            except OSError as exc:
                _log.error("operator event not audited: %s", exc)


def _args(method: str, query: bytes, body: bytes) -> dict[str, str] | None:
    stripped = body.strip()
    if stripped.startswith(b"{"):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): str(v) for k, v in data.items()}
    parsed = parse_params(method, query, body)
    if isinstance(parsed, BinanceError):
        return None
    return dict(parsed.items_)
