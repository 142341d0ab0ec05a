"""`StateRuntime`: what the app's lifespan starts — the store and, per account, its owner.

    runtime = StateRuntime(config, clock, session=..., bases=settings.upstream.urls,
                           accounts={"main": ExchangeKey(api_key, signer)})
    await runtime.start()        # memory: sync every account; redis: mirror + lease per account
    store = runtime.store        # the gate's StateStore
    await runtime.stop()

With Redis each account runs a `LeaseKeeper`; holding the lease starts its `AccountSync`
(after reloading the mirror, so the owner's writes continue the Redis versions), losing it
stops the sync. The memory store owns every account from the start.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from margin_gate.auth.signing import Signer
from margin_gate.clock import Clock
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.config import StateConfig
from margin_gate.state.data import Health
from margin_gate.state.lease import Lease
from margin_gate.state.lease import LeaseKeeper
from margin_gate.state.memory import MemoryStore
from margin_gate.state.redis_store import RedisStore
from margin_gate.state.rest import ExchangeRest
from margin_gate.state.store import StateStore
from margin_gate.state.sync import AccountSync
from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

__all__ = ["ExchangeKey", "StateRuntime", "replica_id"]


@dataclass(frozen=True, slots=True)
class ExchangeKey:
    """An account's exchange key: the API key header value and its signer."""

    api_key: str
    signer: Signer


def replica_id() -> str:
    """A lease token unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class StateRuntime:
    def __init__(
        self,
        config: StateConfig,
        clock: Clock,
        *,
        session: aiohttp.ClientSession,
        bases: Mapping[str, str],
        accounts: Mapping[str, ExchangeKey],
        settings: ProjectionSettings | None = None,
        store: StateStore | None = None,
        replica: str | None = None,
    ) -> None:
        self.config, self.clock, self.session = config, clock, session
        self.bases, self.keys, self.settings = dict(bases), dict(accounts), settings
        self.replica = replica or replica_id()
        if store is None:
            if config.backend == "redis":
                store = RedisStore(config, clock, settings=settings)
            else:
                store = MemoryStore(config, clock, settings)
        self.store: StateStore = store
        self.syncs: dict[str, AccountSync] = {}
        self.keepers: dict[str, LeaseKeeper] = {}
        self._tasks: list[asyncio.Task[Any]] = []

    def owns(self, account: str) -> bool:
        return account in self.syncs

    async def start(self) -> None:
        store = self.store
        if isinstance(store, RedisStore):
            await store.start(sorted(self.keys))
            for name in sorted(self.keys):
                lease = Lease(
                    store.client, store.keys(name).lease, self.replica, self.config.lease_ttl_ms
                )
                keeper = LeaseKeeper(lease, self._acquired(name), self._lost(name))
                self.keepers[name] = keeper
                self._tasks.append(spawn(keeper.run(), name=f"lease:{name}"))
        else:
            for name in sorted(self.keys):
                await self._start_sync(name)

    async def stop(self) -> None:
        await cancel_all(self._tasks, timeout=10)
        self._tasks = []
        for name in list(self.syncs):
            await self._stop_sync(name)
        await self.store.aclose()

    def _acquired(self, name: str) -> Any:
        async def acquired() -> None:
            store = self.store
            assert isinstance(store, RedisStore)
            store.tokens[name] = self.replica
            await store.follower.reload(name)
            now = self.clock.now_ms()
            await store.set_health(name, Health(False, now, 0, now))  # until our stream is up
            await self._start_sync(name)

        return acquired

    def _lost(self, name: str) -> Any:
        async def lost() -> None:
            await self._stop_sync(name, publish=False)
            if isinstance(self.store, RedisStore):
                self.store.tokens.pop(name, None)

        return lost

    async def _start_sync(self, name: str) -> None:
        key = self.keys[name]
        rest = ExchangeRest(
            self.session, self.bases, key.api_key, key.signer, self.clock,
            timeout_s=self.config.http_timeout_s,
        )  # fmt: skip
        sync = AccountSync(
            name, self.store, rest, self.session, self.config, self.clock, settings=self.settings
        )
        self.syncs[name] = sync
        await sync.start()

    async def _stop_sync(self, name: str, *, publish: bool = True) -> None:
        sync = self.syncs.pop(name, None)
        if sync is not None:
            await sync.stop(publish=publish)
