"""`AccountSync`: keeps one owned account fresh — REST load, user stream, marks, index prices,
periodic reconcile with drift, reservation expiry (issue 5 §2, §5).

Runs only on the account's owner (always, with the memory store; the lease holder with Redis).
Order of operations on every (re)connect of the user stream: connect → REST reconcile →
declare the stream healthy. Events that arrive during the reconcile are applied as they come;
`reconcile.merge_load` sorts out the overlap. While the stream is down the account is stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp

from margin_gate.clock import Clock
from margin_gate.margin.model import SymbolKey
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import Health
from margin_gate.state.drift import measure
from margin_gate.state.marketstream import MarkStream
from margin_gate.state.marketstream import poll_asset_index
from margin_gate.state.rest import ExchangeRest
from margin_gate.state.rest import load_account
from margin_gate.state.store import StateStore
from margin_gate.state.userstream import UserStream
from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

__all__ = ["AccountSync", "ws_base"]

_log = logging.getLogger("margin_gate.state.sync")


def ws_base(http_base: str) -> str:
    """`http://h:p` → `ws://h:p` (the paper exchange serves streams on its REST port)."""
    if http_base.startswith("https://"):
        return "wss://" + http_base[len("https://") :]
    if http_base.startswith("http://"):
        return "ws://" + http_base[len("http://") :]
    return http_base


class AccountSync:
    """Owner-side supervisor of one account. `await start()`, `await stop()`."""

    def __init__(
        self,
        account: str,
        store: StateStore,
        rest: ExchangeRest,
        session: aiohttp.ClientSession,
        config: StateConfig,
        clock: Clock,
        *,
        settings: ProjectionSettings | None = None,
        commission_symbols: set[SymbolKey] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        self.account, self.store, self.rest = account, store, rest
        self.config, self.clock = config, clock
        self.settings = settings or ProjectionSettings()
        self.commission_symbols = set(commission_symbols)
        user_ws = config.user_stream_url or ws_base(rest.base("/papi/"))
        market_ws = config.market_stream_url or ws_base(rest.base("/fapi/"))
        self.user = UserStream(
            rest,
            session,
            user_ws,
            config,
            clock,
            on_events=self._events,
            on_connected=self._connected,
            on_alive=self._alive,
            on_down=self._down,
        )
        self.marks = MarkStream(rest, session, market_ws, config, clock, self._prices, self._cm)
        self._tasks: list[asyncio.Task[Any]] = []
        self._reconcile_lock = asyncio.Lock()
        self.reconciles = 0
        self.reconcile_failures = 0
        self.last_drift: Decimal | None = None
        self.last_gateway_uni_mmr: Decimal | None = None
        self.last_exchange_uni_mmr: Decimal | None = None
        self.last_error: str | None = None

    # -- lifecycle --

    async def start(self) -> None:
        """Initial REST load (so prices and static data exist), then the loops."""
        try:
            await self.reconcile()
        except Exception as exc:  # the stream loop retries; the account stays stale meanwhile
            _log.warning("%s: initial load failed: %s", self.account, exc)
        name = self.account
        self._tasks = [
            spawn(self.user.run(), name=f"user-stream:{name}"),
            spawn(self.marks.run(), name=f"mark-stream:{name}"),
            spawn(
                self._every(self.config.asset_index_interval_s, self._index), name=f"index:{name}"
            ),
            spawn(
                self._every(self.config.reconcile_interval_s, self.reconcile),
                name=f"reconcile:{name}",
            ),
            spawn(self._every(1.0, self._expire), name=f"expire:{name}"),
        ]

    async def stop(self, *, publish: bool = True) -> None:
        """Stop the loops; `publish` the stream as down (not when the lease was lost: the
        new owner's health must not be overwritten)."""
        await cancel_all(self._tasks)
        self._tasks = []
        if not publish:
            return
        try:
            await self.store.set_health(
                self.account, Health(False, self.clock.now_ms(), 0, self.clock.now_ms())
            )
        except Exception as exc:  # shutting down: the lease expiry tells the others anyway
            _log.info("%s: could not publish stream stop: %s", self.account, exc)

    @property
    def stream_state(self) -> str:
        return "connected" if self.user.connected else "down"

    # -- REST --

    async def reconcile(self) -> None:
        """Full REST load, drift measurement, merge into the store."""
        async with self._reconcile_lock:
            try:
                load = await load_account(
                    self.rest, self.clock, commission_symbols=self.commission_symbols
                )
                drift = measure(load, self.settings, self.config.drift_bound)
                await self.store.apply_snapshot(self.account, load, drift)
            except Exception as exc:
                self.reconcile_failures += 1
                self.last_error = f"reconcile: {type(exc).__name__}: {exc}"
                raise
            self.reconciles += 1
            self.last_drift = drift.drift
            self.last_gateway_uni_mmr = drift.gateway_uni_mmr
            self.last_exchange_uni_mmr = drift.exchange_uni_mmr
            if drift.degraded_reason is not None:
                _log.warning("%s degraded: %s", self.account, drift.degraded_reason)

    async def _index(self) -> None:
        acct = self.store.account(self.account)
        assets = acct.assets() | set(acct.prices.index)
        if assets:
            index = await poll_asset_index(self.rest, assets, self.clock)
            await self.store.apply_prices(self.account, {}, index)

    async def _expire(self) -> None:
        await self.store.expire(self.account)

    async def _every(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("%s: %s failed: %s", self.account, getattr(job, "__name__", job), exc)

    # -- stream callbacks --

    async def _events(self, events: list[dict[str, Any]]) -> bool:
        effects = await self.store.apply_events(self.account, events)
        return not effects.listen_key_expired

    async def _connected(self) -> None:
        await self.reconcile()  # events missed while down are only in REST
        now = self.clock.now_ms()
        await self.store.set_health(self.account, Health(True, None, now, now))

    async def _alive(self) -> None:
        now = self.clock.now_ms()
        health = self.store.account(self.account).health
        if health.stream_connected:
            await self.store.set_health(self.account, Health(True, None, now, now))

    async def _down(self, reason: str) -> None:
        now = self.clock.now_ms()
        health = self.store.account(self.account).health
        since = (
            health.down_since_ms if not health.stream_connected and health.down_since_ms else now
        )
        _log.info("%s: user stream down: %s", self.account, reason)
        try:
            await self.store.set_health(self.account, Health(False, since, health.sync_ms, now))
        except Exception as exc:
            _log.warning("%s: could not publish stream down: %s", self.account, exc)

    async def _prices(self, marks: Mapping[str, PriceTick], index: Mapping[str, PriceTick]) -> None:
        await self.store.apply_prices(self.account, marks, index)

    def _cm(self) -> list[str]:
        static = self.store.account(self.account).data.static
        return [symbol for market, symbol in static.instruments if market == "CM"]
