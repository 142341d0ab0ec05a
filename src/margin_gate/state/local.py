"""What both state stores share: one `LiveAccount` per account in this process (the memory
store's only copy, the Redis store's mirror), its view, and a new reservation stamped now."""

from __future__ import annotations

from collections.abc import Sequence

from margin_gate.clock import Clock
from margin_gate.margin.legs import Leg
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.account import LiveAccount
from margin_gate.state.config import StateConfig
from margin_gate.state.reservations import new_reservation
from margin_gate.state.types import AccountView
from margin_gate.state.types import Reservation

__all__ = ["LocalAccounts"]


class LocalAccounts:
    """Base of `MemoryStore` and `RedisStore`; `account()` creates an account on first use
    (`_created` lets the Redis store attach its mirror)."""

    def __init__(
        self, config: StateConfig, clock: Clock, settings: ProjectionSettings | None
    ) -> None:
        self.config = config
        self.clock = clock
        self.settings = settings
        self._accounts: dict[str, LiveAccount] = {}

    def account(self, account: str) -> LiveAccount:
        found = self._accounts.get(account)
        if found is None:
            found = self._accounts[account] = LiveAccount(
                account, self.config, self.clock, self.settings
            )
            self._created(found)
        return found

    def _created(self, live: LiveAccount) -> None:
        """Hook: a new account was just created."""

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
