"""`PaperExchange`: the live engine that ties the ledger, order book, risk and events together.

Synchronous and I/O-free: REST handlers, the control API and tests call it on one event loop
(or none); it reports what happened through an `EventSink` (the stream hub in a running app, a
`RecordingSink` in unit tests). Trading logic lives in `futures.py`, `margin.py`, `algo.py` and
`liquidation.py`, which take the engine as their first argument.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import Protocol

from margin_gate.clock import Clock
from margin_gate.clock import SystemClock
from margin_gate.paper import algo
from margin_gate.paper import events
from margin_gate.paper import futures
from margin_gate.paper import liquidation
from margin_gate.paper import margin
from margin_gate.paper.errors import UNABLE_TRADE_LOW_LIQUIDATION
from margin_gate.paper.ledger import Ledger
from margin_gate.paper.numbers import ONE
from margin_gate.paper.numbers import ceil_to
from margin_gate.paper.numbers import floor_to
from margin_gate.paper.orders import OrderBook
from margin_gate.paper.risk import RISK_LEVEL_STATUSES
from margin_gate.paper.risk import Status
from margin_gate.paper.risk import band
from margin_gate.paper.risk import uni_mmr_text
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import Kind
from margin_gate.paper.schema import MarginSymbol
from margin_gate.paper.schema import PaperState
from margin_gate.paper.unimmr import RiskSnapshot
from margin_gate.paper.unimmr import compute
from margin_gate.wire.errors import BinanceError

__all__ = ["EventSink", "PaperExchange", "PriceUpdate", "RecordingSink"]


class EventSink(Protocol):
    """Where the engine reports what happened (the stream hub, or a recorder in tests)."""

    @property
    def listening(self) -> bool:
        """Whether any user-stream consumer is connected (events are built only then)."""
        ...

    def user_event(self, event: dict[str, Any]) -> None: ...

    def prices_moved(self, symbols: Collection[str]) -> None: ...

    def liquidation_due(self) -> None: ...


class RecordingSink:
    """An `EventSink` that keeps everything, for tests and engine-only use."""

    listening = True

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.moved: list[str] = []
        self.liquidations = 0

    def user_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def prices_moved(self, symbols: Collection[str]) -> None:
        self.moved.extend(symbols)

    def liquidation_due(self) -> None:
        self.liquidations += 1

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["e"] == kind]


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """One price change. `symbol`: a futures symbol's mark and/or index; `asset`: an asset's
    index price; `base`: every price of that coin at once (futures marks and indexes with that
    base asset, and its asset index)."""

    symbol: str | None = None
    asset: str | None = None
    base: str | None = None
    mark: Decimal | None = None
    index: Decimal | None = None
    price: Decimal | None = None


class PaperExchange:
    def __init__(
        self, state: PaperState, *, clock: Clock | None = None, sink: EventSink | None = None
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.sink: EventSink = sink or RecordingSink()
        self.liquidation_hold = False
        self.reset(state)

    def reset(self, state: PaperState | None = None) -> None:
        """Start over from `state` (default: the state this engine was built from)."""
        if state is not None:
            self.state = state
        now = self.now()
        self.ledger = Ledger(self.state, now)
        self.book = OrderBook(self.state.seed)
        self.algos = algo.AlgoBook()
        self.liquidating = False
        self.bankrupt = False
        self._update_id = 0
        self._snap: RiskSnapshot | None = None
        self._snap_version = -1
        self.status: Status = band(self.risk().uni_mmr, self.state.risk)

    # -- time, ids, events --

    def now(self) -> int:
        return self.clock.now_ms()

    def next_update_id(self) -> int:
        self._update_id += 1
        return self._update_id

    def emit(self, build: Callable[..., dict[str, Any]], /, *args: Any, **kwargs: Any) -> None:
        """Stream `build(*args, **kwargs)`; skipped entirely while nobody listens (speed)."""
        if self.sink.listening:
            self.sink.user_event(build(*args, **kwargs))

    # -- risk --

    def risk(self) -> RiskSnapshot:
        """The current snapshot, recomputed only when the ledger changed since the last one."""
        if self._snap is None or self._snap_version != self.ledger.version:
            self._snap = compute(self.ledger, self.state)
            self._snap_version = self.ledger.version
        return self._snap

    def uni_mmr_text(self) -> str:
        return uni_mmr_text(self.risk(), self.state.risk)

    def trading_gate(self) -> BinanceError | None:
        """-3048 while the liquidation engine owns the account (binance-pm.md, project brief)."""
        return UNABLE_TRADE_LOW_LIQUIDATION if self.liquidating else None

    def after_change(self) -> None:
        """Recompute uniMMR after a fill, transfer or price move and act on band changes."""
        if self.liquidating:
            return
        snap = self.risk()
        if self.bankrupt:
            if snap.actual_equity >= 0:
                self.bankrupt = False
            else:
                self.status = "BANKRUPTED"
                return
        new = band(snap.uni_mmr, self.state.risk)
        if new == "FORCE_LIQUIDATION" and not liquidation.has_work(self):
            self.bankrupt = True
            self.status = "BANKRUPTED"
            return
        if new == self.status:
            return
        self.status = new
        if new in RISK_LEVEL_STATUSES:
            self.emit(
                events.risk_level_change,
                self.uni_mmr_text(),
                new,
                snap.account_equity,
                snap.actual_equity,
                snap.maint_margin,
                now=self.now(),
            )
        if new == "FORCE_LIQUIDATION":
            liquidation.begin(self)

    def run_liquidation(self) -> None:
        liquidation.run(self)

    # -- prices --

    def taker_price(self, spec: FuturesSymbol, buy: bool) -> Decimal:
        """Where a taker fills: mark ± spread, rounded away from the mark to the tick."""
        mark = self.ledger.mark[spec.symbol]
        tick = spec.filters.tick_size
        if buy:
            return ceil_to(mark * (ONE + self.state.spread), tick)
        return floor_to(mark * (ONE - self.state.spread), tick)

    def margin_reference(self, spec: MarginSymbol) -> Decimal:
        """Cross-margin symbols trade around the ratio of their assets' index prices."""
        return self.ledger.asset_index[spec.base] / self.ledger.asset_index[spec.quote]

    def margin_taker_price(self, spec: MarginSymbol, buy: bool) -> Decimal:
        ref = self.margin_reference(spec)
        tick = spec.filters.tick_size
        if buy:
            return ceil_to(ref * (ONE + self.state.spread), tick)
        return floor_to(ref * (ONE - self.state.spread), tick)

    def set_prices(self, updates: Iterable[PriceUpdate]) -> list[str]:
        """Apply price changes, then fill what they cross, trigger algos, and re-check risk.

        Returns the futures symbols whose mark or index moved (for the mark price streams)."""
        ledger = self.ledger
        moved: set[str] = set()
        assets: set[str] = set()
        for u in updates:
            if u.base is not None and u.price is not None:
                for spec in (*self.state.um_symbols.values(), *self.state.cm_symbols.values()):
                    if spec.base == u.base:
                        ledger.mark[spec.symbol] = ledger.index[spec.symbol] = u.price
                        moved.add(spec.symbol)
                ledger.asset_index[u.base] = u.price
                assets.add(u.base)
            if u.symbol is not None:
                if u.mark is not None:
                    ledger.mark[u.symbol] = u.mark
                if u.index is not None:
                    ledger.index[u.symbol] = u.index
                moved.add(u.symbol)
            if u.asset is not None and (u.index is not None or u.price is not None):
                value = u.index if u.index is not None else u.price
                assert value is not None
                ledger.asset_index[u.asset] = value
                assets.add(u.asset)
        ledger.touch(self.now())
        if moved:
            self.sink.prices_moved(sorted(moved))
        if not self.liquidating:
            futures.match_resting(self, moved)
            margin.match_resting(self)
            algo.check_triggers(self, moved)
        self.after_change()
        return sorted(moved)

    # -- transfers (control API) --

    def deposit(self, asset: str, amount: Decimal, wallet: str) -> None:
        """Credit (or with a negative amount, debit) one wallet; streams the matching event."""
        now = self.now()
        bal = self.ledger.balance(asset)
        if wallet == "margin":
            bal.free += amount
            self.emit(
                events.balance_update, asset, amount, now=now, update_id=self.next_update_id()
            )
            self.emit(
                events.outbound_account_position, [bal], now=now, update_id=self.next_update_id()
            )
        else:
            kind: Kind = "UM" if wallet == "um" else "CM"
            if kind == "UM":
                bal.um_wallet += amount
                wb = bal.um_wallet
            else:
                bal.cm_wallet += amount
                wb = bal.cm_wallet
            self.emit(
                events.account_update,
                kind,
                "DEPOSIT",
                [(asset, wb, amount)],
                [],
                now=now,
                txn_time=now,
            )
        self.ledger.touch(now)
        self.after_change()
