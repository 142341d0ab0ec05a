"""`RedisStore`: live state shared by gateway replicas through Redis (redis.asyncio).

Each replica keeps a local mirror (`LiveAccount`) that `view()` reads without I/O; the mirror
follows Redis through pub/sub notifications (redis_mirror.py). Check-and-reserve is one Lua
script (redis_scripts.RESERVE): one round trip, atomic per account. The stream owner (lease
holder) writes account data with COMMIT, fenced by its lease token. Prices and stream health
are not versioned (they change every second; versioning them would make every reserve
conflict): the owner writes them to `:prices` and publishes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
from redis.exceptions import RedisError

from margin_gate.clock import Clock
from margin_gate.margin.legs import Leg
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.account import LiveAccount
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import AccountData
from margin_gate.state.data import Health
from margin_gate.state.data import LoadedAccount
from margin_gate.state.drift import DriftReport
from margin_gate.state.events import Effects
from margin_gate.state.events import apply_events
from margin_gate.state.reconcile import merge_load
from margin_gate.state.redis_keys import AccountKeys
from margin_gate.state.redis_keys import connect
from margin_gate.state.redis_mirror import Follower
from margin_gate.state.redis_mirror import absorb
from margin_gate.state.redis_scripts import COMMIT
from margin_gate.state.redis_scripts import RELEASE
from margin_gate.state.redis_scripts import RESERVE
from margin_gate.state.redis_scripts import SETTLE
from margin_gate.state.reservations import new_reservation
from margin_gate.state.serial import data_to_json
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
Event = Mapping[str, Any]


class NotOwner(StateUnavailable):
    """A fenced owner write was refused: this replica no longer holds the account's lease."""


class RedisStore:
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
        self.config = config
        self.clock = clock
        self.settings = settings
        self.client = client
        self.tokens: dict[str, str] = {}  # account → lease token while this replica owns it
        self._accounts: dict[str, LiveAccount] = {}
        self._keys: dict[str, AccountKeys] = {}
        self._reserve = client.register_script(RESERVE)
        self._commit = client.register_script(COMMIT)
        self._settle = client.register_script(SETTLE)
        self._release = client.register_script(RELEASE)
        self.follower = Follower(self)
        self.conflicts = 0  # reserve conflicts answered (metrics)
        self._locks: dict[str, asyncio.Lock] = {}

    # -- accounts and keys --

    def keys(self, account: str) -> AccountKeys:
        found = self._keys.get(account)
        if found is None:
            found = self._keys[account] = AccountKeys.of(self.config.key_prefix, account)
        return found

    def account(self, account: str) -> LiveAccount:
        found = self._accounts.get(account)
        if found is None:
            found = self._accounts[account] = LiveAccount(
                account, self.config, self.clock, self.settings
            )
            found.mirror_problem = "state mirror not loaded from Redis yet"
            self.follower.track(account)
        return found

    def accounts(self) -> list[str]:
        return sorted(self._accounts)

    async def start(self, accounts: Sequence[str] = ()) -> None:
        """Subscribe to and load `accounts` (others are added on first use)."""
        for name in accounts:
            self.account(name)
        await self.follower.start()

    async def aclose(self) -> None:
        await self.follower.stop()
        await self.client.aclose()

    # -- order path --

    def ordering(self, account: str) -> asyncio.Lock:
        """Serializes this process's check-and-reserve loops on `account` (see store.py)."""
        lock = self._locks.get(account)
        if lock is None:
            lock = self._locks[account] = asyncio.Lock()
        return lock

    def view(self, account: str) -> AccountView:
        return self.account(account).view()

    def new_reservation(
        self,
        account: str,
        rid: str,
        legs: Sequence[Leg],
        *,
        client_id: str | None = None,
        bot: str | None = None,
    ) -> Reservation:
        return new_reservation(
            rid,
            legs,
            self.clock.now_ms(),
            self.config.reservation_ttl_ms,
            client_id=client_id,
            bot=bot,
        )

    async def reserve(
        self, account: str, expected: Versions, reservations: Sequence[Reservation]
    ) -> ReserveResult:
        acct, k = self.account(account), self.keys(account)
        args: list[Any] = [expected.data, expected.inflight, self.clock.now_ms(), k.channel]
        args.append(len(reservations))
        for r in reservations:
            args.extend((r.id, reservation_to_json(r), r.expires_ms))
        reply = await self._call(self._reserve, [k.meta, k.inflight, k.expiry, k.snap], args)
        code, v, iv = int(reply[0]), int(reply[1]), int(reply[2])
        if code == 1:
            if acct.versions == Versions(v, iv - 1):
                acct.apply_reservations(reservations, (), iv)
            else:  # earlier changes are still in flight on pub/sub: let the mirror catch up
                await self.follower.wait_for(account, iv, timeout=0.05)
            return ReserveResult(True, Versions(v, iv))
        if code == 2:
            return ReserveResult(False, Versions(v, iv), None, DUPLICATE.format(rid=_s(reply[3])))
        self.conflicts += 1
        await absorb(self, acct, v, iv, reply[3], reply[4] if len(reply) > 4 else None)
        return ReserveResult(False, acct.versions, acct.view())

    async def settle(
        self, account: str, reservation_id: str, outcome: Outcome, *, order_id: str | None = None
    ) -> None:
        acct, k = self.account(account), self.keys(account)
        r = acct.reservations.get(reservation_id)
        release = "0"
        if r is not None and outcome == "accepted" and r.client_id is None:
            asset = r.loan_asset
            if asset is not None and acct.data.liab_e.get(asset, 0) >= r.created_ms:
                release = "1"  # the stream already reported the loan
        now = self.clock.now_ms()
        args = [reservation_id, outcome, now, order_id or "", k.channel, release]
        reply = await self._call(self._settle, [k.meta, k.inflight, k.expiry], args)
        code = int(reply[0])
        if code == 1:
            iv = int(reply[1])
            if iv == acct.inflight_version + 1:
                acct.apply_reservations((), (reservation_id,), iv)
        elif code == 2 and outcome != "rejected":
            # Re-read after the await: the stream owner may have converted it meanwhile and
            # the mirror applied that removal; stamping the old copy would resurrect it here
            # (a phantom in-flight order no other replica and no expiry would ever clear).
            current = acct.reservations.get(reservation_id)
            if current is not None:
                stamped = replace(
                    current, state=outcome, answered_ms=now, order_id=order_id or current.order_id
                )
                acct.apply_reservations((stamped,), (), acct.inflight_version)

    async def release(self, account: str, reservation_ids: Sequence[str]) -> None:
        k = self.keys(account)
        args = [k.channel, self.clock.now_ms(), *reservation_ids]
        await self._call(self._release, [k.meta, k.inflight, k.expiry], args)

    async def expire(self, account: str) -> int:
        return int(await self._call(self._release, self._rkeys(account), self._rargs(account)))

    def _rkeys(self, account: str) -> list[str]:
        k = self.keys(account)
        return [k.meta, k.inflight, k.expiry]

    def _rargs(self, account: str) -> list[Any]:
        return [self.keys(account).channel, self.clock.now_ms()]

    # -- owner side --

    async def apply_events(self, account: str, events: Sequence[Event]) -> Effects:
        acct = self.account(account)
        now = self.clock.now_ms()
        health = replace(acct.health, sync_ms=max(acct.health.sync_ms, now), updated_ms=now)
        effects = Effects()
        for _ in range(2):
            data = acct.data.copy()
            effects = apply_events(data, list(events), now)
            if not effects.data_changed and not effects.confirm_keys:
                break
            if await self._write(acct, data, sorted(effects.confirm_keys), 0, health):
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
        for _ in range(2):
            data = merge_load(acct.data, load)
            if drift is not None:
                data.drift = drift.drift
                data.gateway_uni_mmr = drift.gateway_uni_mmr
                data.degraded_reason = drift.degraded_reason
            if await self._write(acct, data, [], load.fetch_started_ms, health):
                break
            await self.follower.reload(account)
        acct.set_health(health)

    async def _write(
        self, acct: LiveAccount, data: AccountData, keys: list[str], dropped: int, health: Health
    ) -> bool:
        """COMMIT `data` as the next version; False when Redis moved (caller reloads)."""
        k = self.keys(acct.name)
        data.version = acct.data.version + 1
        static = (
            static_to_json(data.static) if data.static_version != acct.data.static_version else b""
        )
        args = [
            self.tokens.get(acct.name, ""),
            data.version,
            data_to_json(data),
            orjson.dumps(keys),
            dropped,
            self.clock.now_ms(),
            k.channel,
            static,
            orjson.dumps(health_to_json(health)),
        ]
        keys_ = [k.meta, k.inflight, k.expiry, k.snap, k.lease, k.static, k.prices]
        reply = await self._call(self._commit, keys_, args)
        code = int(reply[0])
        if code == -1:
            raise NotOwner(f"{acct.name}: stream lease lost; owner write refused")
        if code == -2:
            _log.warning(
                "%s: data version moved under the owner (%s); reloading", acct.name, reply[1]
            )
            return False
        v, iv, removed = int(reply[1]), int(reply[2]), [_s(x) for x in reply[3]]
        acct.replace_data(data)
        if removed and iv == acct.inflight_version + 1:
            acct.apply_reservations((), removed, iv)  # else the notification brings it
        assert acct.data.version == v
        return True

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


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
