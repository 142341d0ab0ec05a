"""A replica's local mirror of Redis state: pub/sub follower, reloads, and this replica's own
writes applied ahead of their confirmation.

Messages on `mg:{dep:acct}:notify` (JSON), in the order Redis executed the scripts:
- `{"t":"d","v","dt","iv","rm":[ids],"h":health,"x":{"full","sv","set":{field: value},
  "del":[fields]}}` — the owner committed data version `v` (token `dt`): only the changed
  fields (serial.delta_fields), or all of them (`full`, a REST load); `rm`: reservations the
  commit converted or purged (`iv` bumped when any).
- `{"t":"r","iv","add":[reservations]}` / `{"t":"r","iv","rm":[ids]}` — in-flight set changed.
- `{"t":"p","m":{sym:[price,ms]},"x":{asset:[price,ms]},"h"?}` / `{"t":"h","h"}` — prices, health.
Data messages apply when `v` is the next version, in-flight ones when `iv` is; older ones are
ignored, a gap or an unparseable message triggers a reload (LOAD script: everything,
atomically; messages arriving meanwhile are buffered and replayed). While the pub/sub
connection is down the mirror says so (`mirror_problem`), which makes the account stale.
In-flight changes are confirmed (versions, fingerprint) as they arrive but reach the local
account (its margin engine's pending aggregate) only when something reads or writes it
(`Mirror.flush`: the store's view, reserve, settle and commits; every local write): another
replica's reservation added and released in between never costs this replica margin work.

`Mirror` keeps, per account, what Redis confirmed (`confirmed`, `v`, `iv`) apart from this
replica's own writes that are applied locally but not yet seen on the channel: reservations
sent (`adding`), releases sent (`releasing`), the owner's commits sent (`commits`). The local
view is always `confirmed − releasing + adding` on top of the newest data, so the next order
projects against the previous one's reservation before Redis has answered (pipelining). Any
divergence only costs conflicts, never a wrong acceptance: RESERVE checks the exact content
the caller saw (redis_scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from margin_gate.state.account import LiveAccount
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import AccountData
from margin_gate.state.data import Changes
from margin_gate.state.data import Static
from margin_gate.state.redis_pipe import RespPipe
from margin_gate.state.redis_scripts import LOAD
from margin_gate.state.reservations import HALF
from margin_gate.state.reservations import split_nonce
from margin_gate.state.serial import apply_fields
from margin_gate.state.serial import data_from_fields
from margin_gate.state.serial import health_from_json
from margin_gate.state.serial import reservation_from_json
from margin_gate.state.serial import static_from_json
from margin_gate.state.types import Reservation
from margin_gate.tasks import cancel_all
from margin_gate.tasks import spawn

if TYPE_CHECKING:
    from margin_gate.state.redis_store import RedisStore

__all__ = ["Follower", "Mirror", "OutOfStep"]

_log = logging.getLogger("margin_gate.state.mirror")
DISCONNECTED = "state mirror disconnected from Redis"
RELOADING = "state mirror reloading from Redis"


class OutOfStep(Exception):
    """A message that does not follow what the mirror holds: reload."""


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> list[tuple[str, str]]:
    return [(_s(flat[i]), _s(flat[i + 1])) for i in range(0, len(flat), 2)]


class Mirror:
    """One account's confirmed Redis state and this replica's unconfirmed writes."""

    def __init__(self, acct: LiveAccount) -> None:
        self.acct = acct
        self.v = 0  # data version the channel confirmed
        self.iv = 0  # in-flight version the channel confirmed
        self.confirmed: dict[str, Reservation] = {}
        self.fingerprint = (0, 0)  # of `confirmed`
        self.adding: dict[str, Reservation] = {}
        self.releasing: dict[str, int | None] = {}  # id → Redis iv when it was found absent
        self.commits: dict[int, tuple[str, frozenset[str]]] = {}  # v → (token, predicted rm)
        self.loading = False
        self.buffered: list[dict[str, Any]] = []
        self.target = (0, 0)  # versions a conflict reported: no new reserve before we are there
        self._advanced = asyncio.Event()
        # ids the channel changed in `confirmed` but not yet in the local view, arrival order:
        # applied by the next `sync` (every local write) or `flush` (every read of the view)
        self.queued: dict[str, None] = {}
        self.coalesced = 0  # queued adds whose removal came before they were applied

    # -- the local view --

    def label(self) -> int:
        """The view's in-flight version: Redis's, once this replica's writes are confirmed."""
        return self.iv + len(self.adding) + len(self.releasing)

    def _target(self, rid: str) -> Reservation | None:
        if rid in self.releasing:
            return None
        found = self.adding.get(rid)
        return found if found is not None else self.confirmed.get(rid)

    def flush(self) -> None:
        """Apply what the channel brought since the view was last synced: anything that reads
        the local account (view, reserve, settle, commits) calls this first."""
        if self.queued or self.acct.inflight_version != self.label():
            self.sync(())

    def sync(self, ids: Iterable[str]) -> None:
        """Make the local view of `ids`, and of every queued id, what confirmed/adding/releasing
        say."""
        if self.queued:
            queued, self.queued = self.queued, {}
            queued.update(dict.fromkeys(ids))
            ids = queued
        have = self.acct.reservations
        added: list[Reservation] = []
        removed: list[str] = []
        for rid in ids:
            want = self._target(rid)
            if want is None:
                if rid in have:
                    removed.append(rid)
            elif have.get(rid) is not want:
                added.append(want)
        label = self.label()
        if added or removed or label != self.acct.inflight_version:
            self.acct.apply_reservations(added, removed, label)

    # -- confirmed set --

    def _confirm(self, r: Reservation) -> None:
        old = self.confirmed.get(r.id)
        if old is not None:
            self._count(old.nonce, -1)
        self.confirmed[r.id] = r
        self._count(r.nonce, 1)

    def _unconfirm(self, rid: str) -> None:
        old = self.confirmed.pop(rid, None)
        if old is not None:
            self._count(old.nonce, -1)

    def _count(self, nonce: int, sign: int) -> None:
        hi, lo = split_nonce(nonce)
        a, b = self.fingerprint
        self.fingerprint = ((a + sign * hi) % HALF, (b + sign * lo) % HALF)

    # -- this replica's writes --

    def reserving(self, reservations: Sequence[Reservation]) -> None:
        for r in reservations:
            self.adding[r.id] = r
        self.sync(r.id for r in reservations)

    def reserved(self, reservations: Sequence[Reservation], iv: int) -> None:
        """RESERVE recorded them at `iv`. Normally their add message is still to come; if the
        mirror is already past `iv` (a reload skipped it), Redis's set is the truth."""
        if iv <= self.iv:
            for r in reservations:
                if self.adding.get(r.id) is r:
                    del self.adding[r.id]
            self.sync(r.id for r in reservations)

    def not_reserved(self, reservations: Sequence[Reservation]) -> None:
        """RESERVE refused them (duplicate id), or its fate is unknown (Redis unreachable:
        its message, if it ran, adds them)."""
        for r in reservations:
            if self.adding.get(r.id) is r:
                del self.adding[r.id]
        self.sync(r.id for r in reservations)

    def conflicted(self, reservations: Sequence[Reservation], v: int, iv: int) -> None:
        """RESERVE found other content at (v, iv). Every reservation this replica sent after
        these was projected on top of them and carries them in its expected fingerprint, so
        it cannot be accepted either: all of them leave the view now (their own answers will
        be conflicts too). New reserves wait until the channel reached (v, iv)."""
        first = next((r.id for r in reservations if self.adding.get(r.id) is r), None)
        doomed: list[str] = []
        if first is not None:
            ids = list(self.adding)
            doomed = ids[ids.index(first) :]
            for rid in doomed:
                del self.adding[rid]
        self.target = (max(self.target[0], v), max(self.target[1], iv))
        self.sync(doomed)

    def behind(self) -> bool:
        """A conflict reported versions the channel has not brought yet."""
        return self.v < self.target[0] or self.iv < self.target[1]

    def releasing_ids(self, ids: Sequence[str]) -> None:
        for rid in ids:
            self.adding.pop(rid, None)
            self.releasing[rid] = None
        self.sync(ids)

    def released(self, ids: Sequence[str], iv: int) -> None:
        """The release answered with Redis at `iv`: once the mirror reached `iv`, an id no
        longer confirmed needs no more waiting (removed by us or by anyone before)."""
        for rid in ids:
            if rid in self.releasing:
                self.releasing[rid] = iv
        self._settle_releases()

    def not_released(self, ids: Sequence[str]) -> None:
        """The release failed (Redis unreachable): count them again."""
        for rid in ids:
            self.releasing.pop(rid, None)
        self.sync(ids)

    def stamp(self, r: Reservation) -> None:
        """A settled state (accepted / unknown) Redis recorded: no version change."""
        for where in (self.adding, self.confirmed):
            current = where.get(r.id)
            if current is not None and current.nonce == r.nonce:
                where[r.id] = r
        self.sync((r.id,))

    def committing(
        self, data: AccountData, changes: Changes | None, token: str, predicted: Iterable[str]
    ) -> None:
        """The owner applies its commit before sending it (`data.version` is the new v)."""
        acct = self.acct
        acct.data_token = token
        acct.replace_data(data, changes)
        gone = frozenset(predicted)
        self.commits[data.version] = (token, gone)
        for rid in gone:
            self.adding.pop(rid, None)
            self.releasing[rid] = None
        self.sync(gone)

    def committed(self, v: int, removed: Sequence[str]) -> None:
        """COMMIT answered: reservations it was predicted to remove but did not are back."""
        own = self.commits.get(v)
        if own is None:
            return
        kept = [rid for rid in own[1] if rid not in removed]
        for rid in kept:
            self.releasing.pop(rid, None)
        self.sync(kept)

    def _settle_releases(self) -> None:
        done = [
            rid
            for rid, at in self.releasing.items()
            if at is not None and at <= self.iv and rid not in self.confirmed
        ]
        for rid in done:
            del self.releasing[rid]
        if done:
            self.sync(done)

    # -- the channel --

    def apply(self, msg: dict[str, Any]) -> None:
        """Apply one message (OutOfStep: reload)."""
        if self.loading:
            self.buffered.append(msg)
            return
        kind = msg.get("t")
        acct = self.acct
        if "h" in msg:
            acct.set_health(health_from_json(msg["h"]))
        if kind == "p":
            acct.update_prices(
                {s: PriceTick(Decimal(p), int(t)) for s, (p, t) in msg["m"].items()},
                {a: PriceTick(Decimal(p), int(t)) for a, (p, t) in msg["x"].items()},
            )
            return
        if kind == "d":
            self.flush()  # the data message applies on top of every earlier in-flight change
            self._data(msg)
            self._inflight(msg)
            self.flush()
        elif kind == "r":
            self._inflight(msg)
        self._advanced.set()
        self._advanced = asyncio.Event()

    def _data(self, msg: dict[str, Any]) -> None:
        v = int(msg["v"])
        if v <= self.v:
            return
        if v > self.v + 1:
            raise OutOfStep(f"data version {v} after {self.v}")
        own = self.commits.pop(v, None)
        if own is not None:
            if own[0] != msg["dt"]:
                raise OutOfStep(f"data version {v} written by another owner")
            self.v = v  # this replica's commit: applied when it was sent
            return
        if self.commits:
            raise OutOfStep(f"data version {v} written while our commit is in flight")
        acct = self.acct
        delta = msg["x"]
        if int(delta["sv"]) != acct.data.static_version or not acct.data.loaded:
            raise OutOfStep("static data changed")  # fetch it with a reload
        old = acct.data
        if delta["full"]:
            new = data_from_fields(delta["set"], old.static, v)
            changes = None
        else:
            new = old.copy()
            apply_fields(new, delta["set"], delta["del"])
            new.version = v
            changes = Changes.between(old, new)
        acct.data_token = str(msg["dt"])
        acct.replace_data(new, changes)
        self.v = v

    def _inflight(self, msg: dict[str, Any]) -> None:
        """Confirm the message's changes now; the local view gets them at the next `flush` or
        `sync` (queued), so a reservation added and removed meanwhile costs it nothing."""
        iv = int(msg["iv"])
        if iv <= self.iv:
            return
        if iv > self.iv + 1:
            raise OutOfStep(f"in-flight version {iv} after {self.iv}")
        self.iv = iv
        queued = self.queued
        for raw in msg.get("add", ()):
            mine = self.adding.get(raw["id"])
            if mine is not None and list(split_nonce(mine.nonce)) == raw["n"]:
                del self.adding[mine.id]
                r = mine  # this replica's own: already parsed (and maybe stamped meanwhile)
            else:
                r = reservation_from_json(raw)
            self._confirm(r)
            queued[r.id] = None
        have = self.acct.reservations
        for x in msg.get("rm", ()):
            rid = str(x)
            self._unconfirm(rid)
            self.releasing.pop(rid, None)
            if rid in queued and rid not in have:
                self.coalesced += 1
            queued[rid] = None
        if self.releasing:
            self._settle_releases()

    # -- waiting and loading --

    async def caught_up(self, v: int, iv: int, timeout: float) -> bool:
        """Wait (bounded) until the channel confirmed at least (v, iv)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.v < v or self.iv < iv:
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), left)
        return True

    def load(self, reply: Sequence[Any], static: Static) -> None:
        """Replace everything confirmed with a LOAD answer (see Follower.reload)."""
        meta, fields, _, inflight, _ = reply
        v, iv = int(meta[0] or 0), int(meta[2] or 0)
        acct = self.acct
        for own in [x for x in self.commits if x <= v]:
            del self.commits[own]
        if not self.commits:  # else our newer commit is in flight: its message continues
            data = (
                data_from_fields({k: orjson.loads(x) for k, x in _pairs(fields)}, static, v)
                if fields
                else AccountData(version=v)
            )
            acct.data_token = _s(meta[1]) if meta[1] else ""
            acct.replace_data(data)
            if data.loaded:
                acct.rebuild()
        self.v, self.iv = v, iv
        self.confirmed, self.fingerprint = {}, (0, 0)
        self.queued = {}  # set_reservations below makes the whole view what Redis holds
        for _, raw in _pairs(inflight):
            self._confirm(reservation_from_json(raw))
        for rid in [x for x in self.adding if x in self.confirmed]:
            self.confirmed[rid] = self.adding.pop(rid)
        for rid in [x for x in self.releasing if x not in self.confirmed]:
            del self.releasing[rid]
        wanted = {rid: r for rid in self.confirmed.keys() | self.adding.keys()
                  if (r := self._target(rid)) is not None}  # fmt: skip
        acct.set_reservations(wanted, self.label())
        self._advanced.set()
        self._advanced = asyncio.Event()


class Follower:
    """Keeps every tracked account's mirror in step with Redis."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self._channels: dict[str, str] = {}  # channel → account
        self._pending: set[str] = set()  # accounts to (re)subscribe / reload
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._load = store.client.register_script(LOAD)
        self.reconnects = 0
        self.reloads = 0
        self.connected = False

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
        """Replace the mirror of `account` with what Redis holds (atomic LOAD); messages that
        arrive meanwhile are buffered and replayed after it."""
        store = self.store
        mirror, acct = store.mirror(account), store.account(account)
        k = store.keys(account)
        mirror.loading = True
        try:
            reply = await self._load(keys=[k.meta, k.data, k.static, k.inflight, k.prices])
            self.reloads += 1
            static = acct.data.static
            raw_static = reply[2]
            if raw_static:
                static = static_from_json(raw_static)
            self._prices(acct, reply[4])
            mirror.load(reply, static)
        finally:
            mirror.loading = False
            buffered, mirror.buffered = mirror.buffered, []
        for msg in buffered:
            self._apply(account, msg)

    def _prices(self, acct: LiveAccount, prices: Sequence[Any]) -> None:
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

    async def _run(self) -> None:
        delay = 0.05
        while True:
            pipe = self.store.pipe
            if pipe is not None:  # hiredis subscriber: messages applied in the read callback
                sub = pipe.subscriber(self._message, self._wake.set)
                try:
                    await self._follow_pipe(sub)
                except asyncio.CancelledError:
                    await sub.aclose()
                    raise
                except (RedisError, OSError) as exc:
                    self._down(exc)
                await sub.aclose()
            else:
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

    async def _follow_pipe(self, sub: RespPipe) -> None:
        """`_follow` on a `RespPipe` subscriber: messages never wait for this loop (they are
        applied as they are read, `_message`); the loop subscribes, reloads and notices a
        lost connection (`_wake` is set by both)."""
        subscribed: set[str] = set()
        self._pending.update(self._channels.values())
        while True:
            for channel in [c for c in self._channels if c not in subscribed]:
                await sub.call("SUBSCRIBE", channel)
                subscribed.add(channel)
            self.connected = True
            while self._pending:
                account = self._pending.pop()
                await self.reload(account)
                self.store.account(account).mirror_problem = None
            if sub.lost:
                raise RedisConnectionError("state mirror subscription lost")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            if sub.lost:
                raise RedisConnectionError("state mirror subscription lost")

    def _message(self, channel: bytes, data: bytes) -> None:
        account = self._channels.get(channel.decode())
        if account is None:
            return
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._broken(account, exc)
            return
        self._apply(account, payload)

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        account = self._channels.get(_s(message["channel"]))
        if account is None:
            return
        try:
            payload = orjson.loads(message["data"])
        except orjson.JSONDecodeError as exc:
            self._broken(account, exc)
            return
        self._apply(account, payload)

    def _apply(self, account: str, payload: dict[str, Any]) -> None:
        try:
            self.store.mirror(account).apply(payload)
        except Exception as exc:  # out of step or malformed: reload rather than guess
            self._broken(account, exc)

    def _broken(self, account: str, exc: BaseException) -> None:
        _log.warning("%s: notification not applied (%s); reloading", account, exc)
        self.store.account(account).mirror_problem = RELOADING
        self.request_reload(account)


async def _close(pubsub: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection
        await pubsub.aclose()
