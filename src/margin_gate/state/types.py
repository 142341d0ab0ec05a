"""Value types of the live-state layer: versions, pending fills, reservations, the order-path view.

Everything here is frozen; the mutable pieces live in `data.py` (confirmed account data) and
`account.py` (the materialized view with its risk aggregate).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Literal
from typing import NamedTuple

from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.model import Market
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import Side

if TYPE_CHECKING:
    from margin_gate.margin.risk import AccountRisk

__all__ = [
    "AccountView",
    "Outcome",
    "PendingFill",
    "Reservation",
    "ReservationState",
    "ReserveResult",
    "StateUnavailable",
    "Versions",
]

Outcome = Literal[
    "rejected",  # the exchange refused the order (4xx with a code): release the reservation
    "accepted",  # the exchange acknowledged it: keep until the stream confirms it
    "unknown",  # 5xx / timeout / -1006 / -1007: fate unknown, keep until confirmed or expired
]
ReservationState = Literal[
    "in_flight",  # reserved, request sent (or about to be), no answer yet
    "accepted",  # answered NEW/FILLED/...: waiting for the user stream
    "unknown",  # answered with an unknown fate
]


class StateUnavailable(RuntimeError):
    """The state backend (Redis) cannot be reached or refused a write: fail closed."""


class Versions(NamedTuple):
    """`data` bumps on every change of account data; `inflight` on every reservation change.

    `content` (Redis only; "" in memory) names the exact content the view was built from:
    the data version's random token and the fingerprint of the reservation set. A Redis
    reservation is accepted only if Redis holds exactly that content (redis_scripts.RESERVE),
    which is what makes pipelined reservations safe."""

    data: int
    inflight: int
    content: str = ""


@dataclass(frozen=True, slots=True)
class PendingFill:
    """A trade reported by ORDER_TRADE_UPDATE / executionReport whose effect is not yet in the
    confirmed balances and positions (binance-pm.md §4.2: the TRADE event comes first, the
    ACCOUNT_UPDATE / outboundAccountPosition that carries its result after).

    It counts as applied until each part is confirmed: the futures position part by an
    ACCOUNT_UPDATE listing the symbol with `T' ≥ time`, each wallet asset by an
    ACCOUNT_UPDATE / outboundAccountPosition listing the asset with `T'`/`u ≥ time`.
    """

    market: Market
    symbol: str
    trade_id: int
    order_id: str
    side: Side
    position_side: PositionSide
    qty: Decimal  # base (UM, MARGIN) or contracts (CM)
    price: Decimal
    time: int  # T, exchange ms
    realized: Decimal = Decimal(0)  # futures `rp`, margin asset
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    quote_qty: Decimal = Decimal(0)  # margin `Y` (last quote transacted)
    position_open: bool = True  # futures only
    open_assets: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.market, self.symbol, self.trade_id)

    @property
    def done(self) -> bool:
        return not self.open_assets and (self.market == "MARGIN" or not self.position_open)


@dataclass(frozen=True, slots=True)
class Reservation:
    """An order the gateway let through that the exchange has not yet reported on the stream.

    `id` is unique per account: the order's clientOrderId (newClientOrderId, clientAlgoId or
    newClientStrategyId), or `<clientOrderId>#<suffix>` for a modify, or a gateway id for a
    manual loan. `client_id` is what the user stream will carry (`c`, `caid`, `so.c`); None for
    loans, which are confirmed by a `liabilityChange` of `loan_asset` after the answer.
    """

    id: str
    legs: tuple[Leg, ...]
    created_ms: int
    expires_ms: int
    client_id: str | None = None
    state: ReservationState = "in_flight"
    answered_ms: int | None = None
    order_id: str | None = None
    bot: str | None = None
    nonce: int = 0  # random, 104 bits: tells apart two reservations made under the same id

    @property
    def loan_asset(self) -> str | None:
        for leg in self.legs:
            if isinstance(leg, LoanLeg):
                return leg.asset
        return None

    @property
    def match_key(self) -> str:
        """What confirms it on the stream: `c:<clientId>` or `l:<asset>` (loans)."""
        if self.client_id is not None:
            return f"c:{self.client_id}"
        return f"l:{self.loan_asset or ''}"


@dataclass(frozen=True, slots=True)
class AccountView:
    """What the order path reads: immutable, built without I/O.

    `risk` is the live incremental aggregate (margin.risk.AccountRisk) with resting orders and
    in-flight reservations in its pending book; it is shared and mutated by later updates, so
    read it synchronously right after `view()` (before any await). `snapshot()` builds the
    effective immutable snapshot (confirmed data + pending fills, current prices) on demand.
    `stale_reason` is None when fresh; `stale_reason_for(symbol)` adds the order's own symbol.
    """

    account: str
    versions: Versions
    now_ms: int
    loaded: bool
    risk: AccountRisk | None
    reservations: tuple[Reservation, ...]
    prices_age_ms: int | None
    account_age_ms: int | None
    stale_reason: str | None
    mark_times: Mapping[str, int]
    account_status: str | None = None
    exchange_uni_mmr: Decimal | None = None
    drift: Decimal | None = None
    degraded: bool = False
    degraded_reason: str | None = None
    stream_connected: bool = False
    max_price_age_ms: int = 5000
    _snapshot: Callable[[], AccountSnapshot] | None = field(default=None, repr=False)

    @property
    def version(self) -> int:
        return self.versions.data

    @property
    def inflight_version(self) -> int:
        return self.versions.inflight

    @property
    def stale(self) -> bool:
        return self.stale_reason is not None

    @property
    def inflight_legs(self) -> tuple[Leg, ...]:
        return tuple(leg for r in self.reservations for leg in r.legs)

    def snapshot(self) -> AccountSnapshot:
        """The effective snapshot (confirmed + pending fills, live prices); O(positions)."""
        if self._snapshot is None:
            return AccountSnapshot()
        return self._snapshot()

    def price_age_ms(self, symbol: str) -> int | None:
        """Age of `symbol`'s mark price, None when there is none."""
        t = self.mark_times.get(symbol)
        return None if t is None else max(self.now_ms - t, 0)

    def stale_reason_for(self, symbol: str | None) -> str | None:
        """`stale_reason`, or the order's own symbol's mark price being missing or too old."""
        if self.stale_reason is not None or symbol is None:
            return self.stale_reason
        age = self.price_age_ms(symbol)
        if age is None:
            return f"no mark price for {symbol}"
        if age > self.max_price_age_ms:
            return f"mark price for {symbol} {age} ms old > {self.max_price_age_ms} ms limit"
        return None


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """`ok`: recorded at `versions`. Otherwise a conflict: `view` is the fresh state to
    re-project against before retrying with `view.versions` (or `error` when retrying is
    pointless)."""

    ok: bool
    versions: Versions
    view: AccountView | None = None
    error: str | None = None  # a refusal that retrying cannot fix (duplicate reservation id)
