"""`RedisStore`: live state shared by gateway replicas through Redis (redis.asyncio).

Each replica keeps a local mirror (`LiveAccount` + `redis_mirror.Mirror`) that `view()` reads
without I/O; the mirror follows Redis through pub/sub notifications (redis_mirror.py).

Order path: check-and-reserve is one Lua script (redis_scripts.RESERVE), one round trip,
atomic per account, and **pipelined**: `reserve()` puts the reservation into the local mirror
before it sends the script, so the next order on this replica projects against it at once and
many round trips per account can be in flight. The script accepts only if Redis holds exactly
the content the caller's view had (`Versions.content`: the data version's token and the
fingerprint of the in-flight set); otherwise the local reservation is taken back, the mirror
catches up to what Redis reported and the caller re-projects. Releases (`settle(rejected)`,
`release`) leave the local view at once too.

Owner side: the stream owner (lease holder) applies user-stream events to its local copy,
then COMMITs only the changed fields (serial.delta_fields), fenced by its lease token and
versioned (v + 1, with a fresh token); every mirror applies the published delta. A REST
reconcile writes all fields. Prices and stream health are not versioned (they change every
second; versioning them would make every reserve conflict): the owner writes them to
`:prices` and publishes them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from typing import Literal

import orjson
from redis.exceptions import RedisError

from margin_gate.clock import Clock
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.account import LiveAccount
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import AccountData
from margin_gate.state.data import Changes
from margin_gate.state.data import Health
from margin_gate.state.data import LoadedAccount
from margin_gate.state.drift import DriftReport
from margin_gate.state.events import Effects
from margin_gate.state.events import apply_events
from margin_gate.state.local import LocalAccounts
from margin_gate.state.reconcile import merge_load
from margin_gate.state.redis_keys import AccountKeys
from margin_gate.state.redis_keys import connect
from margin_gate.state.redis_mirror import RELOADING
from margin_gate.state.redis_mirror import Follower
from margin_gate.state.redis_mirror import Mirror
from margin_gate.state.redis_pipe import RespPipe
from margin_gate.state.redis_scripts import COMMIT
from margin_gate.state.redis_scripts import RELEASE
from margin_gate.state.redis_scripts import RESERVE
from margin_gate.state.redis_scripts import SETTLE
from margin_gate.state.reservations import split_nonce
from margin_gate.state.serial import data_fields
from margin_gate.state.serial import delta_fields
from margin_gate.state.serial import dumps
from margin_gate.state.serial import health_to_json
from margin_gate.state.serial import reservation_to_json
from margin_gate.state.serial import static_to_json
from margin_gate.state.types import AccountView
from margin_gate.state.types import Outcome
from margin_gate.state.types import Reservation
from margin_gate.state.types import ReserveResult
from margin_gate.state.types import StateUnavailable
from margin_gate.state.types import Versions

__all__ = ["NotOwner", "RedisStore"]

_log = logging.getLogger("margin_gate.state.redis")
DUPLICATE = "reservation {rid} already in flight"
UNAVAILABLE = "state store unavailable: {error}"
CATCH_UP_S = 0.25  # after a conflict: wait this long for the channel, then reload
Event = Mapping[str, Any]


class NotOwner(StateUnavailable):
    """A fenced owner write was refused: this replica no longer holds the account's lease."""


class RedisStore(LocalAccounts):
    """`StateStore` on Redis. Call `await start(accounts)` before use, `aclose()` after."""

    def __init__(
        self,
        config: StateConfig,
        clock: Clock,
        *,
        client: Any = None,
        settings: ProjectionSettings | None = None,
    ) -> None:
        if client is None:
            if not config.redis_url:
                raise ValueError("state.redis_url is required for the Redis store")
            client = connect(config.redis_url)
        super().__init__(config, clock, settings)
        self.client = client
        self.tokens: dict[str, str] = {}  # account → lease token while this replica owns it
        self._mirrors: dict[str, Mirror] = {}
        self._keys: dict[str, AccountKeys] = {}
        # The scripts go through one multiplexed connection when the client allows it
        # (redis_pipe.py: a fraction of redis-py's CPU per command, in issue order).
        self.pipe = RespPipe.for_client(client)
        register = self.pipe.script if self.pipe is not None else client.register_script
        self._reserve = register(RESERVE)
        self._commit = register(COMMIT)
        self._settle = register(SETTLE)
        self._release = register(RELEASE)
        self.follower = Follower(self)
        self.conflicts = 0  # reserve conflicts answered (metrics)
        self.commits = 0  # owner commits written (metrics)
        self._owner_locks: dict[str, asyncio.Lock] = {}
        self._token_prefix = uuid.uuid4().hex[:10]
        self._token_seq = itertools.count(1)

    # -- accounts and keys --

    def keys(self, account: str) -> AccountKeys:
        found = self._keys.get(account)
        if found is None:
            found = self._keys[account] = AccountKeys.of(self.config.key_prefix, account)
        return found

    def _created(self, live: LiveAccount) -> None:
        live.data_token = ""
        live.mirror_problem = "state mirror not loaded from Redis yet"
        self._mirrors[live.name] = Mirror(live)
        self.follower.track(live.name)

    def mirror(self, account: str) -> Mirror:
        self.account(account)
        return self._mirrors[account]

    def view(self, account: str) -> AccountView:
        """The local view with every notification received so far (the mirror applies them
        when the view is read: `Mirror.flush`)."""
        self.mirror(account).flush()
        return super().view(account)

    def accounts(self) -> list[str]:
        return sorted(self._accounts)

    async def start(self, accounts: Sequence[str] = ()) -> None:
        """Subscribe to and load `accounts` (others are added on first use)."""
        for name in accounts:
            self.account(name)
        await self.follower.start()

    async def aclose(self) -> None:
        await self.follower.stop()
        if self.pipe is not None:
            await self.pipe.aclose()
        await self.client.aclose()

    # -- order path --

    def ordering(self, account: str) -> asyncio.Lock:
        """What the gate holds around its check-and-reserve loop: with Redis, nothing that
        waits. `reserve()` puts the reservation into the local view before its round trip and
        RESERVE accepts only the exact content the caller projected on, so this process's
        orders on one account pipeline instead of queueing behind each other's round trips
        (a lock held across them capped c=32 at one order per round trip); a conflict drops
        every follower projected on top of the refused one and they re-project once the
        mirror caught up (`reserve`, `Mirror.conflicted`)."""
        return _NO_WAIT

    async def reserve(
        self, account: str, expected: Versions, reservations: Sequence[Reservation]
    ) -> ReserveResult:
        acct, mirror, k = self.account(account), self.mirror(account), self.keys(account)
        mirror.flush()
        if mirror.behind():  # after a conflict: re-project once the mirror caught up
            self.conflicts += 1
            await self._catch_up(account, None)
            return ReserveResult(False, acct.versions, self.view(account))
        if expected != acct.versions or expected.content.count("|") != 2:
            self.conflicts += 1  # the view is older than the mirror: no round trip
            return ReserveResult(False, acct.versions, self.view(account))
        for r in reservations:
            if r.id in acct.reservations:
                return ReserveResult(False, acct.versions, None, DUPLICATE.format(rid=r.id))
        dt, f1, f2 = expected.content.split("|")
        args: list[Any] = [expected.data, dt, f1, f2, self.clock.now_ms(), k.channel]
        args.append(len(reservations))
        for r in reservations:
            hi, lo = split_nonce(r.nonce)
            args.extend((r.id, reservation_to_json(r), r.expires_ms, r.match_key, hi, lo))
        mirror.reserving(reservations)  # the next order projects against these already
        try:
            reply = await self._call(self._reserve, k.reservations, args)
        except StateUnavailable:
            mirror.not_reserved(reservations)
            raise
        mirror.flush()  # what the channel brought during the round trip
        code = int(reply[0])
        if code == 1:
            mirror.reserved(reservations, int(reply[2]))
            return ReserveResult(True, acct.versions)
        if code == 2:
            mirror.not_reserved(reservations)
            return ReserveResult(False, acct.versions, None, DUPLICATE.format(rid=_s(reply[3])))
        mirror.conflicted(reservations, int(reply[1]), int(reply[2]))
        self.conflicts += 1
        await self._catch_up(account, reply)
        return ReserveResult(False, acct.versions, self.view(account))

    async def _catch_up(self, account: str, reply: Sequence[Any] | None) -> None:
        """After a conflict: let the channel bring the mirror to what Redis reported; if it
        does not come, or the mirror holds other content at those very versions, reload."""
        acct, mirror = self.account(account), self.mirror(account)
        v, iv = mirror.target
        if not await mirror.caught_up(v, iv, CATCH_UP_S):
            mirror.target = (0, 0)
            self.follower.request_reload(account)
            return
        if reply is not None and mirror.v == v and mirror.iv == iv and not mirror.commits:
            theirs = (_s(reply[3]), int(reply[4]), int(reply[5]))
            if (acct.data_token, *mirror.fingerprint) != theirs:
                _log.warning(
                    "%s: mirror differs from Redis at v=%s iv=%s; reloading", account, v, iv
                )
                self.follower.request_reload(account)

    async def settle(
        self, account: str, reservation_id: str, outcome: Outcome, *, order_id: str | None = None
    ) -> None:
        """Record the order's fate. The local view changes at once; with the pipe the SETTLE
        is written behind: sent now (before any later command of this replica, on the same
        connection), its reply applied when it comes, so the answer to the bot does not wait
        for it. Until then Redis still counts the reservation: conservative for every replica.
        A failure is logged (the reservation then expires by its TTL), as callers did."""
        acct, mirror, k = self.account(account), self.mirror(account), self.keys(account)
        mirror.flush()
        r = acct.reservations.get(reservation_id)
        release = "0"
        if r is not None and outcome == "accepted" and r.client_id is None:
            asset = r.loan_asset
            if asset is not None and acct.data.liab_e.get(asset, 0) >= r.created_ms:
                release = "1"  # the stream already reported the loan
        releasing = outcome == "rejected" or release == "1"
        ids = (reservation_id,)
        if releasing:
            mirror.releasing_ids(ids)
        now = self.clock.now_ms()
        args = [reservation_id, outcome, now, order_id or "", k.channel, release]
        done = _Settled(self, account, reservation_id, outcome, now, order_id, releasing)
        send = getattr(self._settle, "send", None)
        fut = send(k.reservations, args) if send is not None else None
        if fut is not None:
            fut.add_done_callback(done.callback)
            return
        try:
            reply = await self._call(self._settle, k.reservations, args)
        except StateUnavailable:
            done.failed()
            raise
        done.apply(reply)

    async def release(self, account: str, reservation_ids: Sequence[str]) -> None:
        mirror, k = self.mirror(account), self.keys(account)
        ids = tuple(reservation_ids)
        mirror.releasing_ids(ids)
        args = [k.channel, self.clock.now_ms(), *ids]
        try:
            reply = await self._call(self._release, k.reservations, args)
        except StateUnavailable:
            mirror.not_released(ids)
            raise
        mirror.released(ids, int(reply[1]))

    async def expire(self, account: str) -> int:
        k = self.keys(account)
        reply = await self._call(self._release, k.reservations, [k.channel, self.clock.now_ms()])
        return int(reply[0])

    # -- owner side --

    def _owner(self, account: str) -> asyncio.Lock:
        """Serializes this replica's commits on `account` (stream events and REST loads)."""
        lock = self._owner_locks.get(account)
        if lock is None:
            lock = self._owner_locks[account] = asyncio.Lock()
        return lock

    async def apply_events(self, account: str, events: Sequence[Event]) -> Effects:
        acct = self.account(account)
        now = self.clock.now_ms()
        health = replace(acct.health, sync_ms=max(acct.health.sync_ms, now), updated_ms=now)
        effects = Effects()
        async with self._owner(account):
            for _ in range(2):
                old = acct.data
                data = old.copy()
                effects = apply_events(data, list(events), now)
                if not effects.data_changed and not effects.confirm_keys:
                    break
                keys = effects.confirm_keys
                self.mirror(account).flush()
                gone = _predicted(acct.reservations.values(), keys, now, 0)
                changes = Changes.between(old, data)
                if await self._write(acct, data, changes, sorted(keys), 0, health, gone):
                    break
                await self.follower.reload(account)
        if effects.marks or effects.index:
            await self.apply_prices(account, effects.marks, effects.index, health)
        acct.set_health(health)
        return effects

    async def apply_snapshot(
        self, account: str, load: LoadedAccount, drift: DriftReport | None = None
    ) -> None:
        acct = self.account(account)
        received = load.fetch_done_ms or self.clock.now_ms()
        await self.apply_prices(
            account,
            {s: PriceTick(t.price, received) for s, t in load.marks.items()},
            {a: PriceTick(t.price, received) for a, t in load.asset_index.items()},
        )
        health = replace(acct.health, sync_ms=max(acct.health.sync_ms, load.fetch_started_ms))
        started = load.fetch_started_ms
        async with self._owner(account):
            for _ in range(2):
                data = merge_load(acct.data, load)
                if drift is not None:
                    data.drift = drift.drift
                    data.gateway_uni_mmr = drift.gateway_uni_mmr
                    data.degraded_reason = drift.degraded_reason
                now = self.clock.now_ms()
                self.mirror(account).flush()
                gone = _predicted(acct.reservations.values(), set(), now, started)
                if await self._write(acct, data, None, [], started, health, gone):
                    break
                await self.follower.reload(account)
        acct.set_health(health)

    async def _write(
        self,
        acct: LiveAccount,
        data: AccountData,
        changes: Changes | None,
        keys: list[str],
        dropped: int,
        health: Health,
        predicted: list[str],
    ) -> bool:
        """COMMIT `data` as the next version (only `changes`' fields; all without them),
        applied locally first; False when Redis moved (the caller reloads)."""
        k, mirror = self.keys(acct.name), self.mirror(acct.name)
        data.version = acct.data.version + 1
        static = (
            static_to_json(data.static) if data.static_version != acct.data.static_version else b""
        )
        full = changes is None
        dels: list[str] = []
        if changes is None:
            sets = data_fields(data)
        else:
            sets, dels = delta_fields(data, changes)
        delta = orjson.dumps(
            {
                "full": full,
                "sv": data.static_version,
                "set": {f: orjson.Fragment(v) for f, v in sets.items()},
                "del": dels,
            }
        )
        token = f"{self._token_prefix}{next(self._token_seq)}"
        args: list[Any] = [
            self.tokens.get(acct.name, ""),
            data.version,
            token,
            orjson.dumps(keys),
            dropped,
            self.clock.now_ms(),
            k.channel,
            static,
            orjson.dumps(health_to_json(health)),
            "1" if full else "0",
            delta,
            len(sets),
            len(dels),
            *itertools.chain.from_iterable(sets.items()),
            *dels,
        ]
        keys_ = [*k.reservations, k.data, k.lease, k.static, k.prices]
        mirror.committing(data, changes, token, predicted)
        try:
            reply = await self._call(self._commit, keys_, args)
        except StateUnavailable:
            self._uncommitted(acct.name, data.version)
            raise
        code = int(reply[0])
        if code == -1:
            mirror.commits.pop(data.version, None)
            await self.follower.reload(acct.name)  # back to what Redis holds
            raise NotOwner(f"{acct.name}: stream lease lost; owner write refused")
        if code == -2:
            _log.warning(
                "%s: data version moved under the owner (%s); reloading", acct.name, reply[1]
            )
            mirror.commits.pop(data.version, None)
            return False
        self.commits += 1
        mirror.committed(int(reply[1]), [_s(x) for x in reply[3]])
        return True

    def _uncommitted(self, account: str, version: int) -> None:
        """A commit applied locally may not have reached Redis (unreachable): the mirror is
        stale until the follower reloaded it."""
        self.mirror(account).commits.pop(version, None)
        self.account(account).mirror_problem = RELOADING
        self.follower.request_reload(account)

    async def apply_prices(
        self,
        account: str,
        marks: Mapping[str, PriceTick],
        index: Mapping[str, PriceTick],
        health: Health | None = None,
    ) -> None:
        acct = self.account(account)
        acct.update_prices(marks, index)
        fields: dict[str, str] = {f"m:{s}": f"{t.price}|{t.time}" for s, t in marks.items()}
        fields.update({f"x:{a}": f"{t.price}|{t.time}" for a, t in index.items()})
        message: dict[str, Any] = {
            "t": "p",
            "m": {s: [t.price, t.time] for s, t in marks.items()},
            "x": {a: [t.price, t.time] for a, t in index.items()},
        }
        if health is not None:
            fields["h"] = orjson.dumps(health_to_json(health)).decode()
            message["h"] = health_to_json(health)
        if fields:
            await self._publish(account, fields, message)

    async def set_health(self, account: str, health: Health) -> None:
        acct = self.account(account)
        acct.set_health(health)
        h = health_to_json(health)
        await self._publish(account, {"h": orjson.dumps(h).decode()}, {"t": "h", "h": h})

    async def _publish(self, account: str, fields: Mapping[str, str], message: object) -> None:
        k = self.keys(account)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hset(k.prices, mapping=dict(fields))
                pipe.publish(k.channel, dumps(message))
                await pipe.execute()
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE.format(error=exc)) from exc

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except RedisError as exc:
            raise StateUnavailable(UNAVAILABLE.format(error=exc)) from exc


class _NoWait(asyncio.Lock):
    """An `asyncio.Lock` that never waits (RedisStore.ordering)."""

    async def acquire(self) -> Literal[True]:
        return True

    def release(self) -> None:
        return None

    def locked(self) -> bool:
        return False


_NO_WAIT = _NoWait()


class _Settled:
    """What a SETTLE's reply does to the mirror (awaited, or in a done callback)."""

    __slots__ = ("account", "now", "order_id", "outcome", "releasing", "rid", "store")

    def __init__(
        self,
        store: RedisStore,
        account: str,
        rid: str,
        outcome: Outcome,
        now: int,
        order_id: str | None,
        releasing: bool,
    ) -> None:
        self.store, self.account, self.rid, self.outcome = store, account, rid, outcome
        self.now, self.order_id, self.releasing = now, order_id, releasing

    def callback(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self.failed()
            return
        exc = fut.exception()
        if exc is not None:
            _log.warning(
                "settle %s on %s: state store unavailable (%s); TTL will expire it",
                self.rid,
                self.account,
                exc,
            )
            self.failed()
            return
        try:
            self.apply(fut.result())
        except Exception:  # a malformed reply: the mirror reloads rather than guesses
            _log.exception("settle %s on %s: reply not applied", self.rid, self.account)
            self.store.follower.request_reload(self.account)

    def failed(self) -> None:
        if self.releasing:
            self.store.mirror(self.account).not_released((self.rid,))

    def apply(self, reply: Sequence[Any]) -> None:
        store, rid, outcome = self.store, self.rid, self.outcome
        mirror = store.mirror(self.account)
        code = int(reply[0])
        if code in (0, 1):
            if self.releasing:
                mirror.released((rid,), int(reply[1]))
        elif code == 2 and outcome != "rejected":
            # Re-read now: the stream owner may have converted it meanwhile and the mirror
            # applied that removal; stamping the old copy would resurrect it here (a phantom
            # in-flight order no other replica and no expiry would ever clear).
            mirror.flush()
            current = store.account(self.account).reservations.get(rid)
            if current is not None:
                mirror.stamp(
                    replace(
                        current,
                        state=outcome,
                        answered_ms=self.now,
                        order_id=self.order_id or current.order_id,
                    )
                )


def _predicted(
    reservations: Iterable[Reservation], keys: set[str], now: int, dropped_before: int
) -> list[str]:
    """The reservations COMMIT will remove, by the rules the script applies (conversion by
    the stream's keys, expiry, a REST load's drop)."""
    found = []
    for r in reservations:
        if r.expires_ms <= now:
            found.append(r.id)
            continue
        if keys:
            key = r.match_key
            if key in keys and (key.startswith("c:") or r.state == "accepted"):
                found.append(r.id)
                continue
        if (
            dropped_before
            and r.state == "accepted"
            and r.answered_ms is not None
            and r.answered_ms < dropped_before
        ):
            found.append(r.id)
    return found


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
