"""The containers of one account's live state: static market data, confirmed account data,
prices and stream health, and the REST load that (re)builds them.

`AccountData` is mutable; writers copy it (`copy()`, shallow: the values are frozen), change the
copy and swap it in, so a half-applied batch is never visible. The copy's containers record
which keys were written (`Tracked`, `TrackedSet`), so `Changes.between(old, new)` names what a
batch changed in O(changes): the live view updates only those symbols and assets, and the
Redis owner commits (and every mirror applies) only those entries. Watermarks record the
exchange time (`T`, `u`, `E`) of the newest data applied per symbol / wallet / asset, which is
how stale or duplicate events are told apart (binance-pm.md §4.1 ordering).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Any
from typing import TypeVar

from margin_gate.margin.model import Balance
from margin_gate.margin.model import Bracket
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import Commission
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import Position
from margin_gate.margin.model import SymbolKey
from margin_gate.state.codec import ExchangeAccount
from margin_gate.state.codec import PositionRow
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.types import PendingFill

__all__ = [
    "CONTAINERS",
    "SCALARS",
    "AccountData",
    "Changes",
    "FillKey",
    "Health",
    "LoadedAccount",
    "PosKey",
    "Prices",
    "Static",
    "Tracked",
    "TrackedSet",
]

PosKey = tuple[str, str, str]  # (market, symbol, positionSide)
FillKey = tuple[str, str, int]  # (market, symbol, tradeId)
K = TypeVar("K")
V = TypeVar("V")


class Tracked(dict[K, V]):
    """A dict that records every key written or removed since it was made (`touched`)."""

    __slots__ = ("touched",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.touched: set[K] = set()

    def __setitem__(self, key: K, value: V) -> None:
        self.touched.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: K) -> None:
        self.touched.add(key)
        super().__delitem__(key)

    def pop(self, key: K, *default: Any) -> Any:
        self.touched.add(key)
        return super().pop(key, *default)

    def setdefault(self, key: K, default: Any = None) -> Any:
        self.touched.add(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        other = dict(*args, **kwargs)
        self.touched.update(other)
        super().update(other)

    def popitem(self) -> tuple[K, V]:
        key, value = super().popitem()
        self.touched.add(key)
        return key, value

    def clear(self) -> None:
        self.touched.update(self)
        super().clear()

    def __ior__(self, other: Any) -> Tracked[K, V]:  # type: ignore[override,misc]
        self.update(other)
        return self


class TrackedSet(set[str]):
    """A set that records every member added or removed since it was made (`touched`)."""

    __slots__ = ("touched",)

    def __init__(self, items: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.touched: set[str] = set()

    def add(self, item: str) -> None:
        self.touched.add(item)
        super().add(item)

    def discard(self, item: object) -> None:
        self.touched.add(str(item))
        super().discard(item)

    def remove(self, item: str) -> None:
        self.touched.add(item)
        super().remove(item)

    def update(self, *others: Iterable[str]) -> None:
        for other in others:
            items = set(other)
            self.touched.update(items)
            super().update(items)

    def difference_update(self, *others: Iterable[object]) -> None:
        for other in others:
            items = set(other)
            self.touched.update(str(i) for i in items)
            super().difference_update(items)

    def pop(self) -> str:
        item = super().pop()
        self.touched.add(item)
        return item

    def clear(self) -> None:
        self.touched.update(self)
        super().clear()

    def __ior__(self, other: Any) -> TrackedSet:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __isub__(self, other: Any) -> TrackedSet:  # type: ignore[misc]
        self.difference_update(other)
        return self


@dataclass(frozen=True, slots=True)
class Static:
    """Market data that changes rarely (reloaded at each reconcile)."""

    instruments: Mapping[SymbolKey, Instrument] = field(default_factory=dict)
    brackets: Mapping[str, tuple[Bracket, ...]] = field(default_factory=dict)
    collateral_rates: Mapping[str, CollateralRate] = field(default_factory=dict)
    loan_mm_rates: Mapping[str, Decimal] = field(default_factory=dict)
    commissions: Mapping[SymbolKey, Commission] = field(default_factory=dict)
    um_hedge_mode: bool = False
    cm_hedge_mode: bool = False

    def instrument(self, market: str, symbol: str) -> Instrument | None:
        return self.instruments.get((market, symbol))  # type: ignore[arg-type]


@dataclass(slots=True)
class AccountData:
    """Confirmed account data plus the pending fills not yet confirmed (see types.PendingFill)."""

    static: Static = field(default_factory=Static)
    static_version: int = 0
    loaded: bool = False
    version: int = 0
    balances: dict[str, Balance] = field(default_factory=dict)
    positions: dict[PosKey, Position] = field(default_factory=dict)
    open_orders: dict[str, OpenOrder] = field(default_factory=dict)
    fills: dict[FillKey, PendingFill] = field(default_factory=dict)
    open_loss: dict[str, Decimal] = field(default_factory=dict)  # asset → |amount|; "USD" in USD
    account_status: str | None = None
    exchange_uni_mmr: Decimal | None = None
    # watermarks (exchange ms)
    pos_t: dict[str, int] = field(default_factory=dict)  # symbol → T of its position data
    wallet_t: dict[str, int] = field(default_factory=dict)  # "UM:USDT" → T of its wallet data
    margin_t: dict[str, int] = field(default_factory=dict)  # asset → u of its margin balance
    liab_e: dict[str, int] = field(default_factory=dict)  # asset → E of its liability
    risk_e: int = 0  # E of the last riskLevelChange
    # watermarks set by a REST load ("p:<symbol>", "w:<market>:<asset>", "m:<asset>"): data at
    # exactly that time is included (REST reads state after the trade); a stream watermark
    # instead means an event at the same T that arrives later is a new one (stream order).
    rest_marks: set[str] = field(default_factory=set)
    # local ms of the last stream event per open order / of removals (reconcile merge)
    order_seen: dict[str, int] = field(default_factory=dict)
    closed_seen: dict[str, int] = field(default_factory=dict)
    loaded_ms: int = 0  # local ms the last REST load started
    drift: Decimal | None = None
    gateway_uni_mmr: Decimal | None = None
    degraded_reason: str | None = None

    def copy(self) -> AccountData:
        """A copy whose containers record what is written to them (see `Changes.between`)."""
        return self._copy(Tracked(self.closed_seen))

    def copy_for_events(self) -> AccountData:
        """`copy()`, except that `closed_seen` starts empty: it takes the batch's writes only
        (event handlers only write it; it holds every order closed since the last REST load,
        so copying it made each event O(orders closed lately)). `keep_closed_seen(old)` then
        adds the rest back, once the batch applied."""
        return self._copy(Tracked())

    def keep_closed_seen(self, old: AccountData) -> None:
        """After `copy_for_events()` and the batch: `old`'s `closed_seen` plus the batch's
        writes, updated in place (O(the batch's writes); `old` is being replaced, so its dict
        is taken over; the first time it is copied once into a plain dict, untracked)."""
        seen = old.closed_seen
        if type(seen) is not dict:
            seen = dict(seen)
        seen.update(self.closed_seen)
        self.closed_seen = seen

    def _copy(self, closed_seen: Tracked[str, int]) -> AccountData:
        # every field by name (not dataclasses.replace: twice as slow, once per event batch);
        # test_deltas checks that no field is left out
        return AccountData(
            static=self.static,
            static_version=self.static_version,
            loaded=self.loaded,
            version=self.version,
            balances=Tracked(self.balances),
            positions=Tracked(self.positions),
            open_orders=Tracked(self.open_orders),
            fills=Tracked(self.fills),
            open_loss=Tracked(self.open_loss),
            account_status=self.account_status,
            exchange_uni_mmr=self.exchange_uni_mmr,
            pos_t=Tracked(self.pos_t),
            wallet_t=Tracked(self.wallet_t),
            margin_t=Tracked(self.margin_t),
            liab_e=Tracked(self.liab_e),
            risk_e=self.risk_e,
            rest_marks=TrackedSet(self.rest_marks),
            order_seen=Tracked(self.order_seen),
            closed_seen=closed_seen,
            loaded_ms=self.loaded_ms,
            drift=self.drift,
            gateway_uni_mmr=self.gateway_uni_mmr,
            degraded_reason=self.degraded_reason,
        )

    def pos_new(self, symbol: str, t: int) -> bool:
        """Is a trade at `t` on `symbol` not yet in the confirmed position?"""
        return _newer(t, self.pos_t.get(symbol, 0), f"p:{symbol}" in self.rest_marks)

    def wallet_new(self, market: str, asset: str, t: int) -> bool:
        key = f"{market}:{asset}"
        return _newer(t, self.wallet_t.get(key, 0), f"w:{key}" in self.rest_marks)

    def margin_new(self, asset: str, t: int) -> bool:
        return _newer(t, self.margin_t.get(asset, 0), f"m:{asset}" in self.rest_marks)

    def symbols(self) -> set[str]:
        """Futures symbols the account holds or has orders/fills on (prices they need)."""
        found = {k[1] for k, p in self.positions.items() if p.amount != 0}
        found.update(o.symbol for o in self.open_orders.values() if o.market != "MARGIN")
        found.update(f.symbol for f in self.fills.values() if f.market != "MARGIN")
        return found


# Keyed containers of AccountData (a change is per key) and its scalar fields (a change of any
# of them is one change of "the scalars"; `open_loss` is small and replaced as a whole).
CONTAINERS = (
    "balances",
    "positions",
    "open_orders",
    "fills",
    "pos_t",
    "wallet_t",
    "margin_t",
    "liab_e",
    "order_seen",
    "closed_seen",
    "rest_marks",
)
SCALARS = (
    "static_version",
    "loaded",
    "open_loss",
    "account_status",
    "exchange_uni_mmr",
    "risk_e",
    "loaded_ms",
    "drift",
    "gateway_uni_mmr",
    "degraded_reason",
)


@dataclass(slots=True)
class Changes:
    """What changed from one `AccountData` to the next: keys per container, and whether any
    scalar did. `full` when the new data was not derived by `copy()` (a REST load): then every
    key of both counts as changed."""

    keys: dict[str, set[Any]]
    scalars: bool
    full: bool = False

    @classmethod
    def between(cls, old: AccountData, new: AccountData) -> Changes:
        keys: dict[str, set[Any]] = {}
        full = False
        for name in CONTAINERS:
            container = getattr(new, name)
            touched = getattr(container, "touched", None)
            if touched is None:  # not a tracked copy: compare everything
                full = True
                before = getattr(old, name)
                touched = {
                    k for k in set(before) | set(container) if _differs(before, container, k)
                }
            keys[name] = touched
        scalars = any(getattr(old, f) != getattr(new, f) for f in SCALARS)
        return cls(keys, scalars, full)

    def __bool__(self) -> bool:
        return self.scalars or any(self.keys.values())


def _differs(before: Any, after: Any, key: Any) -> bool:
    if isinstance(before, set):
        return (key in before) != (key in after)
    return bool(before.get(key) != after.get(key))


def _newer(t: int, watermark: int, from_rest: bool) -> bool:
    return t > watermark or (t == watermark and not from_rest)


@dataclass(slots=True)
class Prices:
    """Mark prices per futures symbol and USD index prices per asset, with their local receive
    time (epoch ms) — ages are judged on arrival, so a slow stream counts as stale."""

    marks: dict[str, Decimal] = field(default_factory=dict)
    mark_times: dict[str, int] = field(default_factory=dict)
    index: dict[str, Decimal] = field(default_factory=dict)
    index_times: dict[str, int] = field(default_factory=dict)

    def set_mark(self, symbol: str, price: Decimal, at_ms: int) -> bool:
        """Record a mark; True when the price changed."""
        self.mark_times[symbol] = max(at_ms, self.mark_times.get(symbol, 0))
        changed = self.marks.get(symbol) != price
        self.marks[symbol] = price
        return changed

    def set_index(self, asset: str, price: Decimal, at_ms: int) -> bool:
        self.index_times[asset] = max(at_ms, self.index_times.get(asset, 0))
        changed = self.index.get(asset) != price
        self.index[asset] = price
        return changed


@dataclass(slots=True)
class Health:
    """User stream state as the stream owner sees it (published to other replicas)."""

    stream_connected: bool = False
    down_since_ms: int | None = None  # when it went down (None: never connected yet)
    sync_ms: int = 0  # last time account data was confirmed current (REST, event, pong)
    updated_ms: int = 0


@dataclass(frozen=True, slots=True)
class LoadedAccount:
    """Everything one REST load returned (issue 5 §2), stamped with when the load started."""

    static: Static
    balances: Mapping[str, Balance]
    balance_times: Mapping[str, int]
    positions: tuple[PositionRow, ...]
    open_orders: tuple[OpenOrder, ...]
    account: ExchangeAccount | None
    marks: Mapping[str, PriceTick]
    asset_index: Mapping[str, PriceTick]
    fetch_started_ms: int
    fetch_done_ms: int = 0
