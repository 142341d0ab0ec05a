"""The PM user data stream connection: listenKey lifecycle, reconnects, liveness (§4.1).

One `UserStream.run()` loop per owned account:
  POST /papi/v1/listenKey → connect `<ws>/pm/ws/<key>` → `on_connected()` (the supervisor
  reconciles over REST before declaring the account fresh) → read events; meanwhile
  PUT keepalive every `listen_key_keepalive_s` (−1125 → new key), our own WebSocket ping every
  `ws_ping_interval_s` (a pong counts as proof of liveness), and a reconnect before the 24 h
  connection limit. `listenKeyExpired` or any failure → `on_down()`, exponential backoff with
  full jitter, start over with a fresh key.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from margin_gate.clock import Clock
from margin_gate.state.config import StateConfig
from margin_gate.state.rest import ExchangeError
from margin_gate.state.rest import ExchangeRest
from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

__all__ = ["Backoff", "UserStream"]

_log = logging.getLogger("margin_gate.state.userstream")
INVALID_LISTEN_KEY = -1125
BATCHES_EVENTS = True  # consecutive queued events reach `on_events` together (bench_reserve)
_LAST = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


class Backoff:
    """Exponential backoff with full jitter, reset after a healthy connection."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial, self.max, self.attempt = initial_s, max_s, 0

    def next(self) -> float:
        ceiling = min(self.max, self.initial * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class _Restart(Exception):
    """End this connection and start over with a new listenKey."""


class UserStream:
    """See module docstring. Counters are plain attributes for the metrics module."""

    def __init__(
        self,
        rest: ExchangeRest,
        session: aiohttp.ClientSession,
        ws_base: str,
        config: StateConfig,
        clock: Clock,
        *,
        on_events: Callable[[list[dict[str, Any]]], Awaitable[bool]],
        on_connected: Callable[[], Awaitable[None]],
        on_alive: Callable[[], Awaitable[None]],
        on_down: Callable[[str], Awaitable[None]],
    ) -> None:
        self.rest, self.session, self.ws_base = rest, session, ws_base.rstrip("/")
        self.config, self.clock = config, clock
        self._on_events, self._on_connected = on_events, on_connected
        self._on_alive, self._on_down = on_alive, on_down
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.connected = False
        self.connects = 0
        self.reconnects = 0
        self.keepalive_failures = 0
        self.key_recreations = 0
        self.events = 0
        self.last_error: str | None = None

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, exchange or decode errors: reconnect
                self.last_error = f"{type(exc).__name__}: {exc}"
                _log.warning("user stream: %s", self.last_error)
            if self.connected or self.connects:
                self.reconnects += 1
            self.connected = False
            await self._on_down(self.last_error or "user stream closed")
            await asyncio.sleep(self.backoff.next())

    async def _session(self) -> None:
        key = await self.rest.create_listen_key()
        url = f"{self.ws_base}/pm/ws/{key}"
        async with self.session.ws_connect(url, autoping=False, heartbeat=None) as ws:
            self.connects += 1
            await self._on_connected()
            self.connected = True
            self.backoff.reset()
            helpers = [
                spawn(self._keepalive(ws), name="user-stream-keepalive"),
                spawn(self._ping(ws), name="user-stream-ping"),
            ]
            try:
                await asyncio.wait_for(self._read(ws), timeout=self.config.stream_rotate_s)
            except TimeoutError:
                _log.info("user stream: rotating the connection before the 24 h limit")
            finally:
                await cancel_all(helpers)
                self.connected = False

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Handle the messages in arrival order. A receiver task takes them off the socket as
        they come; each turn here handles all that arrived meanwhile, and consecutive events
        go to `on_events` as one batch (an IOC order's NEW and EXPIRED usually arrive
        together: one state update instead of two). A batch ends after a `listenKeyExpired`
        and before any other message, so nothing is applied in another order than before."""
        inbox: list[aiohttp.WSMessage | BaseException] = []
        arrived = asyncio.Event()
        receiver = spawn(self._receive(ws, inbox, arrived), name="user-stream-receive")
        try:
            while True:
                await arrived.wait()
                arrived.clear()
                messages = inbox[:]
                inbox.clear()
                if not await self._handle(ws, messages):
                    return
        finally:
            await cancel_all([receiver])

    async def _receive(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        inbox: list[aiohttp.WSMessage | BaseException],
        arrived: asyncio.Event,
    ) -> None:
        while True:
            try:
                msg = await ws.receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                inbox.append(exc)
                arrived.set()
                return
            inbox.append(msg)
            arrived.set()
            if msg.type in _LAST:
                return

    async def _handle(
        self, ws: aiohttp.ClientWebSocketResponse, messages: list[aiohttp.WSMessage | BaseException]
    ) -> bool:
        """False: the connection is done (listenKeyExpired, closed by the peer)."""
        events: list[dict[str, Any]] = []
        for msg in messages:
            if isinstance(msg, BaseException):
                if not await self._flush(events):
                    return False
                raise msg
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    event = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    await self._flush(events)  # what came before, as one by one did
                    raise
                self.events += 1
                events.append(event)
                if _expires(event) and not await self._flush(events):
                    return False
                continue
            if not await self._flush(events):
                return False
            if msg.type == aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.PONG:
                await self._on_alive()
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                self.last_error = f"user stream closed by peer ({ws.close_code})"
                return False
            elif msg.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"user stream error: {ws.exception()}")
        return await self._flush(events)

    async def _flush(self, events: list[dict[str, Any]]) -> bool:
        """Apply the queued events (emptied); False after a listenKeyExpired."""
        if not events:
            return True
        batch = events[:]
        events.clear()
        if not await self._on_events(batch):  # False: listenKeyExpired
            self.key_recreations += 1
            self.last_error = "listenKeyExpired"
            return False
        return True

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.config.ws_ping_interval_s)
            await ws.ping()

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            await asyncio.sleep(self.config.listen_key_keepalive_s)
            try:
                await self.rest.keepalive_listen_key()
            except ExchangeError as exc:
                self.keepalive_failures += 1
                _log.warning("listenKey keepalive failed: %s", exc)
                if exc.code == INVALID_LISTEN_KEY:
                    self.key_recreations += 1
                    await ws.close()  # the read loop ends; run() creates a new key
                    return
                continue
            await self._on_alive()


def _expires(event: object) -> bool:
    """Is this a `listenKeyExpired` (maybe in a combined-stream wrapper)? It ends a batch."""
    if not isinstance(event, dict):
        return False
    inner = event.get("data")
    if "stream" in event and isinstance(inner, dict):
        event = inner
    return isinstance(event, dict) and event.get("e") == "listenKeyExpired"
