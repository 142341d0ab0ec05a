"""`MemoryStore`: the single-process backend (the embedded default). Always the stream owner.

Check-and-reserve is atomic because nothing awaits between the version check and the write
(one event loop). The version check stays anyway, so the gate's retry loop is the same as with
Redis, where another replica can move the account between `view()` and `reserve()`.

Costs: `view()` O(1) (cached); reserve, settle and release O(1) in this layer (plus the
engine's `add_pending` / `remove_pending`); an event batch O(what it touched). Expired
reservations are purged from the front of the in-flight dict on every reserve (insertion order
is expiry order: one TTL, one clock), and by the owner's sweep every second in full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from margin_gate.clock import Clock
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.account import LiveAccount
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import Changes
from margin_gate.state.data import Health
from margin_gate.state.data import LoadedAccount
from margin_gate.state.drift import DriftReport
from margin_gate.state.events import Effects
from margin_gate.state.events import apply_events
from margin_gate.state.local import LocalAccounts
from margin_gate.state.reconcile import merge_load
from margin_gate.state.reservations import confirmed_by
from margin_gate.state.reservations import dropped_by_load
from margin_gate.state.reservations import expired
from margin_gate.state.reservations import settled
from margin_gate.state.types import Outcome
from margin_gate.state.types import Reservation
from margin_gate.state.types import ReserveResult
from margin_gate.state.types import Versions

__all__ = ["DUPLICATE", "MemoryStore"]

DUPLICATE = "reservation {rid} already in flight"
Event = Mapping[str, Any]


class MemoryStore(LocalAccounts):
    """In-process `StateStore`. Accounts are created on first use."""

    def __init__(
        self, config: StateConfig, clock: Clock, settings: ProjectionSettings | None = None
    ) -> None:
        super().__init__(config, clock, settings)
        self._locks: dict[str, asyncio.Lock] = {}

    # -- order path --

    def ordering(self, account: str) -> asyncio.Lock:
        """Serializes check-and-reserve loops on `account` (see store.py); with no await
        between view and reserve here it only matters to keep callers backend-agnostic."""
        lock = self._locks.get(account)
        if lock is None:
            lock = self._locks[account] = asyncio.Lock()
        return lock

    async def reserve(
        self, account: str, expected: Versions, reservations: Sequence[Reservation]
    ) -> ReserveResult:
        acct = self.account(account)
        self._purge_front(acct)
        if acct.versions != expected:
            return ReserveResult(False, acct.versions, acct.view())
        for r in reservations:
            if r.id in acct.reservations:
                return ReserveResult(False, acct.versions, None, DUPLICATE.format(rid=r.id))
        acct.apply_reservations(reservations, (), acct.inflight_version + 1)
        return ReserveResult(True, acct.versions)

    async def settle(
        self, account: str, reservation_id: str, outcome: Outcome, *, order_id: str | None = None
    ) -> None:
        acct = self.account(account)
        r = acct.reservations.get(reservation_id)
        if r is None:
            return  # already converted by the stream, expired or released
        after = settled(r, outcome, self.clock.now_ms(), order_id, acct.data.liab_e)
        if after is None:
            acct.apply_reservations((), (reservation_id,), acct.inflight_version + 1)
        else:
            # state only: the legs are unchanged, so the projection (and version) is too
            acct.apply_reservations((after,), (), acct.inflight_version)

    async def release(self, account: str, reservation_ids: Sequence[str]) -> None:
        acct = self.account(account)
        gone = [rid for rid in reservation_ids if rid in acct.reservations]
        if gone:
            acct.apply_reservations((), gone, acct.inflight_version + 1)

    # -- owner side --

    async def apply_events(self, account: str, events: Sequence[Event]) -> Effects:
        acct = self.account(account)
        now = self.clock.now_ms()
        old = acct.data
        data = old.copy_for_events()
        effects = apply_events(data, list(events), now)
        if effects.data_changed:
            data.version += 1
            changes = Changes.between(old, data)
            data.keep_closed_seen(old)
            acct.replace_data(data, changes)
        gone = confirmed_by(acct.reservations.values(), effects.confirm_keys)
        if gone:
            acct.apply_reservations((), gone, acct.inflight_version + 1)
        if effects.marks or effects.index:
            acct.update_prices(effects.marks, effects.index)
        health = acct.health
        if now > health.sync_ms:  # else unchanged
            acct.set_health(
                Health(health.stream_connected, health.down_since_ms, now, health.updated_ms)
            )
        return effects

    async def apply_snapshot(
        self, account: str, load: LoadedAccount, drift: DriftReport | None = None
    ) -> None:
        acct = self.account(account)
        data = merge_load(acct.data, load)
        data.version = acct.data.version + 1
        if drift is not None:
            data.drift = drift.drift
            data.gateway_uni_mmr = drift.gateway_uni_mmr
            data.degraded_reason = drift.degraded_reason
        received = load.fetch_done_ms or self.clock.now_ms()
        acct.update_prices(
            {s: PriceTick(t.price, received) for s, t in load.marks.items()},
            {a: PriceTick(t.price, received) for a, t in load.asset_index.items()},
        )
        acct.replace_data(data)
        gone = dropped_by_load(acct.reservations.values(), load.fetch_started_ms)
        if gone:
            acct.apply_reservations((), gone, acct.inflight_version + 1)
        health = acct.health
        acct.set_health(replace(health, sync_ms=max(health.sync_ms, load.fetch_started_ms)))

    async def apply_prices(
        self, account: str, marks: Mapping[str, PriceTick], index: Mapping[str, PriceTick]
    ) -> None:
        self.account(account).update_prices(marks, index)

    async def set_health(self, account: str, health: Health) -> None:
        self.account(account).set_health(health)

    async def expire(self, account: str) -> int:
        return self._purge(self.account(account))

    async def aclose(self) -> None:
        return None

    def _purge(self, acct: LiveAccount) -> int:
        gone = expired(acct.reservations.values(), self.clock.now_ms())
        if gone:
            acct.apply_reservations((), gone, acct.inflight_version + 1)
        return len(gone)

    def _purge_front(self, acct: LiveAccount) -> None:
        """O(expired): the oldest reservations come first (see module docstring)."""
        now = self.clock.now_ms()
        gone = []
        for r in acct.reservations.values():
            if r.expires_ms > now:
                break
            gone.append(r.id)
        if gone:
            acct.apply_reservations((), gone, acct.inflight_version + 1)
