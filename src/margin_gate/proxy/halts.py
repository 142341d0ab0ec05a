"""Kill switch store: which accounts and bots an operator halted, in memory or shared via Redis.

The order path asks `halted(account, bot)` synchronously (a dict lookup, no I/O). With Redis the
halts live in one hash `<prefix>:halts` (field `account:<name>` / `bot:<name>` → JSON); every
replica re-reads it every `refresh_s` (default 0.2 s) and immediately after its own changes, so
a halt reaches every replica within one refresh. A replica that cannot read Redis keeps its last
copy (its state mirror is then stale as well, so risk-increasing orders fail closed anyway).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

__all__ = ["Halt", "HaltStore", "MemoryHalts", "RedisHalts", "Scope"]

_log = logging.getLogger("margin_gate.halts")
Scope = Literal[
    "account",  # every bot trading this exchange account
    "bot",  # one bot
]


@dataclass(frozen=True, slots=True)
class Halt:
    scope: Scope
    name: str
    reason: str
    at_ms: int

    @property
    def field(self) -> str:
        return f"{self.scope}:{self.name}"


class HaltStore(Protocol):
    def halted(self, account: str, bot: str) -> str | None:
        """ "account main (reason)" / "bot alpha (reason)" when a halt applies, else None."""
        ...

    def list(self) -> list[Halt]: ...

    async def halt(self, halt: Halt) -> None: ...

    async def resume(self, scope: Scope, name: str) -> bool:
        """True when there was such a halt."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _describe(h: Halt) -> str:
    return f"{h.scope} {h.name} ({h.reason})" if h.reason else f"{h.scope} {h.name}"


class MemoryHalts:
    """One process's halts (memory state backend)."""

    def __init__(self) -> None:
        self._halts: dict[str, Halt] = {}

    def halted(self, account: str, bot: str) -> str | None:
        if not self._halts:
            return None
        h = self._halts.get(f"account:{account}") or self._halts.get(f"bot:{bot}")
        return None if h is None else _describe(h)

    def list(self) -> list[Halt]:
        return sorted(self._halts.values(), key=lambda h: h.field)

    async def halt(self, halt: Halt) -> None:
        self._halts[halt.field] = halt

    async def resume(self, scope: Scope, name: str) -> bool:
        return self._halts.pop(f"{scope}:{name}", None) is not None

    def replace(self, halts: dict[str, Halt]) -> None:
        self._halts = halts

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisHalts(MemoryHalts):
    """Halts shared by replicas through a Redis hash, re-read every `refresh_s`."""

    def __init__(self, client: Redis, key: str, refresh_s: float = 0.2) -> None:
        super().__init__()
        self._client = client
        self._key = key
        self._refresh_s = refresh_s
        self._tasks: list[asyncio.Task[Any]] = []
        self.refresh_failures = 0  # plain counter for metrics

    async def start(self) -> None:
        await self.refresh()  # raises if Redis is down at start-up: fail at start
        self._tasks.append(spawn(self._poll(), name="halts:refresh"))

    async def stop(self) -> None:
        await cancel_all(self._tasks, timeout=2)
        self._tasks = []

    async def refresh(self) -> None:
        raw = await self._client.hgetall(self._key)
        halts = {}
        for value in raw.values():
            data = orjson.loads(value)
            h = Halt(data["scope"], data["name"], data.get("reason", ""), int(data["at_ms"]))
            halts[h.field] = h
        self.replace(halts)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except (RedisError, OSError, ValueError) as exc:
                self.refresh_failures += 1
                _log.warning("halts: refresh failed (%s); keeping the last copy", exc)

    async def halt(self, halt: Halt) -> None:
        await self._client.hset(self._key, halt.field, orjson.dumps(asdict(halt)))
        await self.refresh()

    async def resume(self, scope: Scope, name: str) -> bool:
        removed: int = await self._client.hdel(self._key, f"{scope}:{name}")
        await self.refresh()
        return removed > 0
