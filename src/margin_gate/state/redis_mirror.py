"""A replica's local mirror of Redis state: pub/sub follower, reloads, and applying answers.

Messages on `mg:{dep:acct}:notify` (JSON):
- `{"t":"d","v","iv","rm":[ids],"h":health,"data":{...}}` — owner wrote account data (full).
- `{"t":"r","iv","add":[reservations]}` / `{"t":"r","iv","rm":[ids]}` — in-flight set changed.
- `{"t":"p","m":{sym:[price,ms]},"x":{asset:[price,ms]},"h"?}` / `{"t":"h","h"}` — prices, health.
Data messages carry the whole account data, so any newer `v` simply replaces the mirror's.
In-flight messages are deltas: applied when `iv` is exactly the next version, ignored when
older, and a gap triggers a reload (LOAD script: everything, atomically). While the pub/sub
connection is down the mirror says so (`mirror_problem`), which makes the account stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

import orjson
from redis.exceptions import RedisError

from margin_gate.state.account import LiveAccount
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import AccountData
from margin_gate.state.data import Static
from margin_gate.state.redis_scripts import LOAD
from margin_gate.state.serial import data_from_json
from margin_gate.state.serial import health_from_json
from margin_gate.state.serial import reservation_from_json
from margin_gate.state.serial import static_from_json
from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

if TYPE_CHECKING:
    from margin_gate.state.redis_store import RedisStore

__all__ = ["Follower", "absorb"]

_log = logging.getLogger("margin_gate.state.mirror")
DISCONNECTED = "state mirror disconnected from Redis"


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> list[tuple[str, str]]:
    return [(_s(flat[i]), _s(flat[i + 1])) for i in range(0, len(flat), 2)]


async def _static(store: RedisStore, acct: LiveAccount, data_json: bytes | str) -> Static:
    """The static data a data JSON refers to: the mirror's, unless its version moved."""
    sv = orjson.loads(data_json)["sv"]
    if sv == acct.data.static_version and acct.data.loaded:
        return acct.data.static
    raw = await store.client.get(store.keys(acct.name).static)
    return static_from_json(raw) if raw else Static()


async def absorb(
    store: RedisStore, acct: LiveAccount, v: int, iv: int, inflight: Any, snap: Any
) -> None:
    """Apply a RESERVE conflict answer: newer data and the current in-flight set."""
    if snap and v > acct.data.version:
        data = data_from_json(snap, await _static(store, acct, snap))
        acct.replace_data(data)
    if iv > acct.inflight_version or (iv == acct.inflight_version and not acct.reservations):
        reservations = {rid: reservation_from_json(j) for rid, j in _pairs(inflight)}
        acct.set_reservations(reservations, iv)


class Follower:
    """Keeps every tracked account's mirror in step with Redis."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self._channels: dict[str, str] = {}  # channel → account
        self._pending: set[str] = set()  # accounts to (re)subscribe / reload
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._applied = asyncio.Event()  # set after each batch of notifications
        self._load = store.client.register_script(LOAD)
        self.reconnects = 0
        self.reloads = 0
        self.connected = False

    async def wait_for(self, account: str, inflight_version: int, timeout: float) -> bool:
        """Wait (bounded) until the mirror of `account` has reached `inflight_version`."""
        acct = self.store.account(account)
        deadline = asyncio.get_running_loop().time() + timeout
        while acct.inflight_version < inflight_version:
            if asyncio.get_running_loop().time() > deadline:
                return False
            self._applied.clear()
            try:
                await asyncio.wait_for(self._applied.wait(), timeout)
            except TimeoutError:
                return False
        return True

    def track(self, account: str) -> None:
        self._channels[self.store.keys(account).channel] = account
        self.request_reload(account)

    def request_reload(self, account: str) -> None:
        self._pending.add(account)
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = spawn(self._run(), name="state-mirror")
        # start() returns once the initial loads are done (or failed: then accounts are stale)
        for _ in range(200):
            if self.connected and not self._pending:
                return
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all([self._task])
            self._task = None

    async def reload(self, account: str) -> None:
        """Replace the mirror of `account` with what Redis holds (atomic LOAD)."""
        store, acct = self.store, self.store.account(account)
        k = store.keys(account)
        v, iv, snap, static, inflight, prices = await self._load(
            keys=[k.meta, k.snap, k.static, k.inflight, k.prices]
        )
        self.reloads += 1
        marks: dict[str, PriceTick] = {}
        index: dict[str, PriceTick] = {}
        for field, value in _pairs(prices):
            if field == "h":
                acct.set_health(health_from_json(orjson.loads(value)))
                continue
            price, _, at = value.partition("|")
            tick = PriceTick(Decimal(price), int(at))
            (marks if field.startswith("m:") else index)[field[2:]] = tick
        acct.update_prices(marks, index)
        if snap:
            data = data_from_json(snap, static_from_json(static) if static else Static())
        else:
            data = AccountData()
        data.version = int(v)
        acct.replace_data(data)
        if data.loaded:
            acct.rebuild()
        reservations = {rid: reservation_from_json(j) for rid, j in _pairs(inflight)}
        acct.set_reservations(reservations, int(iv))

    async def _run(self) -> None:
        delay = 0.05
        while True:
            pubsub = self.store.client.pubsub(ignore_subscribe_messages=True)
            try:
                await self._follow(pubsub)
            except asyncio.CancelledError:
                await _close(pubsub)
                raise
            except (RedisError, OSError) as exc:
                self._down(exc)
            await _close(pubsub)
            await asyncio.sleep(delay * (0.5 + random.random()))  # jitter
            delay = min(delay * 2, 2.0)

    def _down(self, exc: BaseException) -> None:
        if self.connected:
            _log.warning("state mirror lost Redis: %s", exc)
        self.connected = False
        self.reconnects += 1
        for account in self._channels.values():
            self.store.account(account).mirror_problem = DISCONNECTED
            self._pending.add(account)

    async def _follow(self, pubsub: Any) -> None:
        subscribed: set[str] = set()
        self._pending.update(self._channels.values())
        while True:
            new = [c for c in self._channels if c not in subscribed]
            if new:
                await pubsub.subscribe(*new)
                subscribed.update(new)
            self.connected = True
            if not subscribed:  # nothing to follow yet: wait for track()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            while self._pending:
                account = self._pending.pop()
                await self.reload(account)
                self.store.account(account).mirror_problem = None
            self._wake.clear()
            message = await pubsub.get_message(timeout=0.05)
            while message is not None:
                self._handle(message)
                message = await pubsub.get_message(timeout=0)
            self._applied.set()

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        account = self._channels.get(_s(message["channel"]))
        if account is None:
            return
        try:
            payload = orjson.loads(message["data"])
            self._apply(self.store.account(account), payload)
        except Exception as exc:  # a malformed message: reload rather than guess
            _log.warning("%s: bad notification (%s); reloading", account, exc)
            self.request_reload(account)

    def _apply(self, acct: LiveAccount, msg: dict[str, Any]) -> None:
        kind = msg.get("t")
        if "h" in msg:
            acct.set_health(health_from_json(msg["h"]))
        if kind == "p":
            acct.update_prices(
                {s: PriceTick(Decimal(p), int(t)) for s, (p, t) in msg["m"].items()},
                {a: PriceTick(Decimal(p), int(t)) for a, (p, t) in msg["x"].items()},
            )
            return
        if kind == "d" and int(msg["v"]) > acct.data.version:
            if msg["data"]["sv"] != acct.data.static_version or not acct.data.loaded:
                self.request_reload(acct.name)  # static data changed: fetch it in the loop
                return
            raw = orjson.dumps(msg["data"])
            acct.replace_data(data_from_json(raw, acct.data.static))
        if kind in ("d", "r"):
            self._inflight(acct, msg)

    def _inflight(self, acct: LiveAccount, msg: dict[str, Any]) -> None:
        iv = int(msg["iv"])
        if iv <= acct.inflight_version:
            return
        if iv > acct.inflight_version + 1:
            self.request_reload(acct.name)
            return
        added = [reservation_from_json(r) for r in msg.get("add", ())]
        acct.apply_reservations(added, [str(x) for x in msg.get("rm", ())], iv)


async def _close(pubsub: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection
        await pubsub.aclose()
