"""Live account state and in-flight reservations, in one process or shared through Redis (issue 5).

What the gateway uses (docs/state.md):

    runtime = StateRuntime(config, clock, session=..., bases=..., accounts={name: ExchangeKey})
    await runtime.start() / await runtime.stop()          # lifespan
    store: StateStore = runtime.store
    async with store.ordering(account):                   # the gate's check-and-reserve loop
        view = store.view(account)                        # AccountView: risk, staleness, versions
        ...project(view.risk, intent)...
        result = await store.reserve(account, view.versions, [store.new_reservation(...)])
    await store.settle(account, reservation_id, "accepted" | "rejected" | "unknown", order_id=...)
"""

from margin_gate.state.config import StateConfig
from margin_gate.state.data import Health
from margin_gate.state.data import LoadedAccount
from margin_gate.state.memory import MemoryStore
from margin_gate.state.redis_store import NotOwner
from margin_gate.state.redis_store import RedisStore
from margin_gate.state.runtime import ExchangeKey
from margin_gate.state.runtime import StateRuntime
from margin_gate.state.store import StateStore
from margin_gate.state.sync import AccountSync
from margin_gate.state.types import AccountView
from margin_gate.state.types import Outcome
from margin_gate.state.types import Reservation
from margin_gate.state.types import ReserveResult
from margin_gate.state.types import StateUnavailable
from margin_gate.state.types import Versions

__all__ = [
    "AccountSync",
    "AccountView",
    "ExchangeKey",
    "Health",
    "LoadedAccount",
    "MemoryStore",
    "NotOwner",
    "Outcome",
    "RedisStore",
    "Reservation",
    "ReserveResult",
    "StateConfig",
    "StateRuntime",
    "StateStore",
    "StateUnavailable",
    "Versions",
]
