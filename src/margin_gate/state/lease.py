"""Stream ownership lease in Redis: one replica per account runs the streams (issue 5 §2).

`SET <lease> <replica id> NX PX ttl` to acquire; renew every ttl/3 with a compare-and-extend
script; release on shutdown only if still the holder. A non-holder retries every ttl/3, so
when the holder dies (no renewal) another replica takes over within ~ttl + ttl/3. The owner's
data writes are fenced by the same token (redis_scripts.COMMIT), so a paused ex-holder that
wakes up cannot overwrite the new owner's data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from margin_gate.state.redis_scripts import LEASE_RELEASE
from margin_gate.state.redis_scripts import LEASE_RENEW

__all__ = ["Lease", "LeaseKeeper"]

_log = logging.getLogger("margin_gate.state.lease")


class Lease:
    """The three lease operations on one key."""

    def __init__(self, client: Any, key: str, token: str, ttl_ms: int) -> None:
        self.client, self.key, self.token, self.ttl_ms = client, key, token, ttl_ms
        self._renew = client.register_script(LEASE_RENEW)
        self._release = client.register_script(LEASE_RELEASE)

    async def acquire(self) -> bool:
        return bool(await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> bool:
        return bool(await self._release(keys=[self.key], args=[self.token]))

    async def holder(self) -> str | None:
        value = await self.client.get(self.key)
        return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


class LeaseKeeper:
    """Holds or waits for a lease; calls `on_acquired` / `on_lost` on transitions.

    A renewal that fails (Redis unreachable, or the key now names another holder) counts as
    lost at once: better no owner for a moment than two."""

    def __init__(
        self,
        lease: Lease,
        on_acquired: Callable[[], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]],
    ) -> None:
        self.lease = lease
        self._on_acquired, self._on_lost = on_acquired, on_lost
        self.held = False
        self.acquisitions = 0
        self.losses = 0

    async def run(self) -> None:
        period = self.lease.ttl_ms / 3000
        try:
            while True:
                await self._step()
                await asyncio.sleep(period)
        finally:
            if self.held:
                self.held = False
                await self._on_lost()
                try:
                    await asyncio.shield(self.lease.release())
                except (RedisError, OSError) as exc:
                    _log.info("lease %s not released: %s", self.lease.key, exc)

    async def _step(self) -> None:
        try:
            ok = await (self.lease.renew() if self.held else self.lease.acquire())
        except (RedisError, OSError) as exc:
            _log.warning("lease %s: %s", self.lease.key, exc)
            ok = False
        if ok and not self.held:
            self.held = True
            self.acquisitions += 1
            _log.info("lease %s acquired by %s", self.lease.key, self.lease.token)
            await self._on_acquired()
        elif not ok and self.held:
            self.held = False
            self.losses += 1
            _log.warning("lease %s lost by %s", self.lease.key, self.lease.token)
            await self._on_lost()
