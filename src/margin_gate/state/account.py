"""`LiveAccount`: one account's materialized view in this process — data, prices, health,
reservations, versions — and the margin engine's incremental risk aggregate kept in step.

Writers (the stores) swap in new `AccountData` / reservation sets / prices; `LiveAccount`
diffs them against what the aggregate holds and feeds only the changes to `AccountRisk`
(`update_position`, `update_balance`, `update_mark_price`, `add_pending`, ...). Static data
changes (a reconcile with new brackets or instruments) rebuild it. `view()` is the order path:
no I/O, O(1) apart from building the `AccountView` itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from margin_gate.clock import Clock
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Position
from margin_gate.margin.pending import PendingOrder
from margin_gate.margin.pending import pending_from_open_order
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import AccountData
from margin_gate.state.data import Health
from margin_gate.state.data import PosKey
from margin_gate.state.data import Prices
from margin_gate.state.effective import effective_balances
from margin_gate.state.effective import effective_positions
from margin_gate.state.effective import effective_snapshot
from margin_gate.state.staleness import Freshness
from margin_gate.state.types import AccountView
from margin_gate.state.types import Reservation
from margin_gate.state.types import Versions

__all__ = ["LiveAccount"]

MODEL_ERROR = "margin model unavailable: {error}"


class LiveAccount:
    """See module docstring. Not thread-safe; one event loop owns it."""

    def __init__(
        self,
        name: str,
        config: StateConfig,
        clock: Clock,
        settings: ProjectionSettings | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.settings = settings or ProjectionSettings()
        self.data = AccountData()
        self.prices = Prices()
        self.health = Health()
        self.reservations: dict[str, Reservation] = {}
        self.inflight_version = 0
        self.mirror_problem: str | None = None  # set by the Redis follower when out of sync
        self.risk: AccountRisk | None = None
        self.risk_error: str | None = "account state not loaded"
        self._positions: dict[PosKey, Position] = {}
        self._balances: dict[str, Balance] = {}
        self._view: AccountView | None = None
        self._snapshot: AccountSnapshot | None = None
        self.fresh = Freshness(config)
        self._mark_times = MappingProxyType(self.prices.mark_times)

    # -- READ --

    @property
    def versions(self) -> Versions:
        return Versions(self.data.version, self.inflight_version)

    def view(self) -> AccountView:
        """The order path's view (cached; ages and staleness evaluated now)."""
        now = self.clock.now_ms()
        base = self._view
        if base is None:
            base = self._view = AccountView(
                account=self.name,
                versions=self.versions,
                now_ms=now,
                loaded=self.data.loaded,
                risk=self.risk,
                reservations=tuple(self.reservations[k] for k in sorted(self.reservations)),
                prices_age_ms=None,
                account_age_ms=None,
                stale_reason=None,
                mark_times=self._mark_times,
                account_status=self.data.account_status,
                exchange_uni_mmr=self.data.exchange_uni_mmr,
                drift=self.data.drift,
                degraded=self.data.degraded_reason is not None,
                degraded_reason=self.data.degraded_reason,
                max_price_age_ms=self.config.max_price_age_ms,
                _snapshot=self.snapshot,
            )
        prices_age, account_age, reason = self.fresh.judge(self, now)
        return AccountView(
            base.account,
            base.versions,
            now,
            base.loaded,
            base.risk,
            base.reservations,
            prices_age,
            account_age,
            reason,
            self._mark_times,
            base.account_status,
            base.exchange_uni_mmr,
            base.drift,
            base.degraded,
            base.degraded_reason,
            self.health.stream_connected,
            base.max_price_age_ms,
            base._snapshot,
        )

    def snapshot(self) -> AccountSnapshot:
        """Effective immutable snapshot, cached until the next change."""
        if self._snapshot is None:
            self._snapshot = effective_snapshot(self.data, self.prices)
        return self._snapshot

    def symbols(self) -> set[str]:
        """Futures symbols whose mark prices matter: held, ordered, filled or reserved."""
        return self.data.symbols() | _futures_symbols(self.reservations.values())

    def assets(self) -> set[str]:
        """Assets whose index prices matter: any balance or margin asset of a held symbol."""
        found = {a for a, b in self._balances.items() if _nonzero(b)}
        static = self.data.static
        for market, symbol, _ in self._positions:
            instrument = static.instrument(market, symbol)
            if instrument is not None:
                found.add(instrument.margin_asset)
        return found

    # -- WRITE --

    def replace_data(self, new: AccountData) -> None:
        """Swap in new account data and feed the differences to the risk aggregate."""
        old = self.data
        self.data = new
        self._changed()
        self.fresh.invalidate()
        if self.risk is None or new.static_version != old.static_version or not old.loaded:
            self.rebuild()
            return
        try:
            self._sync_positions(effective_positions(new))
            self._sync_balances(effective_balances(new))
            self._sync_orders(old, new)
            self.risk.update_open_loss(self.snapshot().open_loss_usd)
        except Exception as exc:  # SnapshotError, a bad leg: fail closed until rebuilt
            self._fail(exc)

    def set_reservations(self, reservations: Mapping[str, Reservation], version: int) -> None:
        """Replace the in-flight set (a reload, or a conflict answer)."""
        removed = [k for k in self.reservations if k not in reservations]
        added = [r for k, r in reservations.items() if k not in self.reservations]
        self.apply_reservations(added, removed, version)

    def apply_reservations(
        self, added: Iterable[Reservation], removed: Iterable[str], version: int
    ) -> None:
        """Add and drop reservations (by id); `version` is the new inflight version."""
        self.inflight_version = version
        self._changed()
        added = list(added)
        self.fresh.add_symbols(_futures_symbols(added))
        for rid in removed:
            if self.reservations.pop(rid, None) is not None and self.risk is not None:
                self.risk.remove_pending(_res_key(rid))
        for r in added:
            if r.id in self.reservations:
                if self.reservations[r.id] == r:
                    continue
                self.reservations[r.id] = r  # state change only (settle): legs unchanged
                continue
            self.reservations[r.id] = r
            if self.risk is not None:
                try:
                    self.risk.add_pending(_pending(r))
                except Exception as exc:
                    self._fail(exc)

    def update_prices(self, marks: Mapping[str, PriceTick], index: Mapping[str, PriceTick]) -> None:
        """Record price ticks (time = local receive ms) and move the aggregate."""
        if not marks and not index:
            return
        self._view = None
        self._snapshot = None
        for symbol, tick in marks.items():
            changed = self.prices.set_mark(symbol, tick.price, tick.time)
            self.fresh.touched_mark(symbol)
            if changed and self.risk is not None:
                try:
                    self.risk.update_mark_price(symbol, tick.price)
                except Exception as exc:
                    self._fail(exc)
        for asset, tick in index.items():
            changed = self.prices.set_index(asset, tick.price, tick.time)
            self.fresh.touched_index(asset)
            if changed and self.risk is not None:
                try:
                    self.risk.update_index_price(asset, tick.price)
                except Exception as exc:
                    self._fail(exc)
        if self.risk is None and self.data.loaded:
            self.rebuild()  # a missing price may have arrived

    def set_health(self, health: Health) -> None:
        self.health = health
        self._view = None

    def rebuild(self) -> None:
        """Rebuild the aggregate from the effective snapshot and the reservations."""
        self._changed()
        self.fresh.invalidate()
        if not self.data.loaded:
            self.risk, self.risk_error = None, "account state not loaded"
            return
        try:
            snapshot = self.snapshot()
            risk = AccountRisk.from_snapshot(snapshot, self.settings)
            for rid in sorted(self.reservations):
                risk.add_pending(_pending(self.reservations[rid]))
        except Exception as exc:
            self._fail(exc)
            return
        self.risk, self.risk_error = risk, None
        self._positions = {(p.market, p.symbol, p.position_side): p for p in snapshot.positions}
        self._balances = {b.asset: b for b in snapshot.balances}

    # -- INTERNALS --

    def _changed(self) -> None:
        self._view = None
        self._snapshot = None

    def _fail(self, exc: Exception) -> None:
        self.risk = None
        self.risk_error = MODEL_ERROR.format(error=exc)
        self._view = None

    def _sync_positions(self, new: dict[PosKey, Position]) -> None:
        assert self.risk is not None
        for key in sorted(self._positions.keys() | new.keys()):
            before, after = self._positions.get(key), new.get(key)
            if before == after:
                continue
            if after is None:
                assert before is not None
                after = Position(
                    before.symbol, before.market, before.position_side, Decimal(0), Decimal(0)
                )
            self.risk.update_position(after)
        self._positions = new

    def _sync_balances(self, new: dict[str, Balance]) -> None:
        assert self.risk is not None
        for asset in sorted(self._balances.keys() | new.keys()):
            before, after = self._balances.get(asset), new.get(asset)
            if before != after:
                self.risk.update_balance(after or Balance(asset))
        self._balances = new

    def _sync_orders(self, old: AccountData, new: AccountData) -> None:
        assert self.risk is not None
        if not self.settings.include_resting_orders:
            return
        for key in sorted(old.open_orders.keys() | new.open_orders.keys()):
            before, after = old.open_orders.get(key), new.open_orders.get(key)
            if before == after:
                continue
            if before is not None:
                self.risk.remove_pending(key)
            if after is not None:
                self.risk.add_pending(pending_from_open_order(after))


def _futures_symbols(reservations: Iterable[Reservation]) -> set[str]:
    return {
        leg.symbol
        for r in reservations
        for leg in r.legs
        if isinstance(leg, OrderLeg) and leg.market != "MARGIN"
    }


def _res_key(rid: str) -> str:
    return f"res:{rid}"


def _pending(r: Reservation) -> PendingOrder:
    return PendingOrder(_res_key(r.id), r.legs, r.order_id, r.client_id, in_flight=True)


def _nonzero(b: Balance) -> bool:
    return bool(
        b.cross_margin_asset
        or b.cross_margin_borrowed
        or b.cross_margin_interest
        or b.um_wallet
        or b.cm_wallet
    )
