"""`StateStore`: the seam between the order path, the stream owner and the state backend.

Order path (any replica): `view()` (sync, no I/O) → project → `reserve()` (one atomic step)
→ send → `settle()`. A conflict answers a fresh view; the caller re-projects and retries:

    async with store.ordering(account):                    # one check-and-reserve per process
        for _ in range(MAX_TRIES):
            view = store.view(account)
            if view.stale_reason_for(symbol) and not reducing: return reject(stale)
            decision = project(view.risk, intent)          # synchronously, before any await
            if decision.rejects: return reject
            result = await store.reserve(account, view.versions, [reservation])
            if result.ok: break
            if result.error: return reject(result.error)
        else: return reject("state contention")
    send; await store.settle(account, reservation.id, outcome, order_id=...)

`ordering()` keeps a process's orders on one account from conflicting with each other (with
Redis, each would otherwise race its siblings' round trips); conflicts then only come from
other replicas. Binance allows an account 1,200 orders/min, far below one round trip per order.

Owner side (the replica holding the stream lease; always the memory store): `apply_events`,
`apply_snapshot`, `apply_prices`, `set_health`, `expire`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Protocol

from margin_gate.state.account import LiveAccount
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import Health
from margin_gate.state.data import LoadedAccount
from margin_gate.state.drift import DriftReport
from margin_gate.state.events import Effects
from margin_gate.state.types import AccountView
from margin_gate.state.types import Outcome
from margin_gate.state.types import Reservation
from margin_gate.state.types import ReserveResult
from margin_gate.state.types import Versions

__all__ = ["StateStore"]

Event = Mapping[str, Any]


class StateStore(Protocol):
    # -- order path --

    def ordering(self, account: str) -> asyncio.Lock:
        """The per-process lock the gate holds around its check-and-reserve loop."""
        ...

    def view(self, account: str) -> AccountView:
        """The account's current view from this process's mirror; never does I/O."""
        ...

    def new_reservation(
        self,
        account: str,
        rid: str,
        legs: Sequence[Any],
        *,
        client_id: str | None = None,
        bot: str | None = None,
    ) -> Reservation:
        """A reservation stamped with now and now + `reservation_ttl_ms`."""
        ...

    async def reserve(
        self, account: str, expected: Versions, reservations: Sequence[Reservation]
    ) -> ReserveResult:
        """Record `reservations` iff the account is still at `expected`; else a fresh view.
        Raises StateUnavailable when the backend cannot answer (fail closed)."""
        ...

    async def settle(
        self, account: str, reservation_id: str, outcome: Outcome, *, order_id: str | None = None
    ) -> None:
        """The exchange answered: rejected → release; accepted/unknown → keep, stamped."""
        ...

    async def release(self, account: str, reservation_ids: Sequence[str]) -> None: ...

    # -- owner side --

    def account(self, account: str) -> LiveAccount:
        """The local LiveAccount (mirror) of `account`, created on first use."""
        ...

    async def apply_events(self, account: str, events: Sequence[Event]) -> Effects:
        """Apply user-stream events (one atomic write); converts confirmed reservations."""
        ...

    async def apply_snapshot(
        self, account: str, load: LoadedAccount, drift: DriftReport | None = None
    ) -> None:
        """Reconcile with a REST load (see reconcile.py and reservations.dropped_by_load)."""
        ...

    async def apply_prices(
        self, account: str, marks: Mapping[str, PriceTick], index: Mapping[str, PriceTick]
    ) -> None: ...

    async def set_health(self, account: str, health: Health) -> None: ...

    async def expire(self, account: str) -> int:
        """Drop reservations past their expiry; returns how many."""
        ...

    async def aclose(self) -> None: ...
