"""Replay protection: a signature may be used once while its request could still be accepted.

Binance itself accepts the same signed request again inside its recvWindow (binance-pm.md
§3.3); the gateway does not, so a captured request cannot be replayed through it. A signature is
remembered until `timestamp + recvWindow`, after which the timing rule refuses it anyway.

`ReplayGuard` is the seam: `MemoryReplayGuard` serves one process; `RedisReplayGuard` (SET NX
PX on the same key) shares it across replicas when `[state] backend = "redis"`.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable
from typing import Any
from typing import Protocol

__all__ = [
    "MemoryReplayGuard",
    "NoReplayGuard",
    "RedisReplayGuard",
    "ReplayGuard",
    "ReplayGuardFull",
]

_PURGE_BATCH = 64


class ReplayGuardFull(Exception):
    """The guard cannot remember another signature; the caller must refuse (fail closed)."""


class ReplayGuard(Protocol):
    async def first_use(self, key: str, expires_at_ms: int, now_ms: int) -> bool:
        """Record `key` until `expires_at_ms`; False when it was already recorded and live.

        Raises `ReplayGuardFull` when it cannot record the key.
        """
        ...

    def begin(self, key: str, expires_at_ms: int, now_ms: int) -> Awaitable[bool]:
        """`first_use` started now and answered when awaited (it must be awaited, before the
        request has any effect): the Redis guard sends its SET NX at once, so a caller that
        awaits it after its next round trip (RESERVE) waits for one round trip, not two."""
        ...


class MemoryReplayGuard:
    """In-process guard: a dict of live keys plus a min-heap of expiries for cheap purging."""

    def __init__(self, max_entries: int = 1_000_000) -> None:
        self._max = max_entries
        self._live: dict[str, int] = {}
        self._expiries: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._live)

    async def first_use(self, key: str, expires_at_ms: int, now_ms: int) -> bool:
        self._purge(now_ms)
        live = self._live
        if key in live:
            return False
        if len(live) >= self._max:
            self._purge_all(now_ms)
            if len(live) >= self._max:
                raise ReplayGuardFull
        live[key] = expires_at_ms
        heapq.heappush(self._expiries, (expires_at_ms, key))
        return True

    def begin(self, key: str, expires_at_ms: int, now_ms: int) -> Awaitable[bool]:
        return self.first_use(key, expires_at_ms, now_ms)

    def _purge(self, now_ms: int) -> None:
        # At most _PURGE_BATCH per call: a burst of expiries (a busy minute ending) must not
        # stall one request for the whole burst; each call still purges more than it adds.
        expiries = self._expiries
        live = self._live
        for _ in range(_PURGE_BATCH):
            if not expiries or expiries[0][0] >= now_ms:
                return
            _, key = heapq.heappop(expiries)
            live.pop(key, None)

    def _purge_all(self, now_ms: int) -> None:
        while self._expiries and self._expiries[0][0] < now_ms:
            self._purge(now_ms)


class NoReplayGuard:
    """`[auth] replay_protection = false`: behave as Binance does (accept replays)."""

    async def first_use(self, key: str, expires_at_ms: int, now_ms: int) -> bool:
        return True

    def begin(self, key: str, expires_at_ms: int, now_ms: int) -> Awaitable[bool]:
        return self.first_use(key, expires_at_ms, now_ms)


class RedisReplayGuard:
    """Replay guard shared by every replica: `SET <prefix>:<key> 1 NX PX <ttl>` per signature,
    so a signature used on one replica is refused on all of them. Redis unreachable: raises
    `ReplayGuardFull` (the caller refuses with -1008; fail closed)."""

    def __init__(self, client: Any, prefix: str) -> None:
        from margin_gate.state.redis_pipe import RespPipe

        self._client = client
        self._prefix = prefix
        # One multiplexed connection when the client allows it (state/redis_pipe.py).
        self._pipe = RespPipe.for_client(client)
        if self._pipe is not None:
            self._pipe.close_with(client)  # the app closes the client it gave us

    async def first_use(self, key: str, expires_at_ms: int, now_ms: int) -> bool:
        ttl = max(expires_at_ms - now_ms, 1)
        try:
            if self._pipe is not None:
                created = await self._pipe.call(
                    "SET", f"{self._prefix}:{key}", b"1", "NX", "PX", ttl
                )
            else:
                created = await self._client.set(f"{self._prefix}:{key}", b"1", nx=True, px=ttl)
        except Exception as exc:  # redis errors, timeouts, closed connections
            raise ReplayGuardFull(f"replay guard unavailable: {type(exc).__name__}") from exc
        return bool(created)

    def begin(self, key: str, expires_at_ms: int, now_ms: int) -> Awaitable[bool]:
        pipe = self._pipe
        ttl = max(expires_at_ms - now_ms, 1)
        sent = pipe.send("SET", f"{self._prefix}:{key}", b"1", "NX", "PX", ttl) if pipe else None
        if sent is None:  # no pipe, or not connected yet: the plain call (sent when awaited)
            return self.first_use(key, expires_at_ms, now_ms)
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(f: asyncio.Future[Any]) -> None:
            if answer.done():
                return
            if f.cancelled():
                answer.set_exception(ReplayGuardFull("replay guard unavailable: cancelled"))
                return
            exc = f.exception()
            if exc is not None:
                failed = ReplayGuardFull(f"replay guard unavailable: {type(exc).__name__}")
                failed.__cause__ = exc
                answer.set_exception(failed)
            else:
                answer.set_result(bool(f.result()))

        sent.add_done_callback(done)
        return answer
