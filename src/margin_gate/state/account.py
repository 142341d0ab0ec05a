"""`LiveAccount`: one account's materialized view in this process — data, prices, health,
reservations, versions — and the margin engine's incremental risk aggregate kept in step.

Writers (the stores) swap in new `AccountData` with the `Changes` that lead to it, add and
drop reservations, record prices; `LiveAccount` feeds only what changed to `AccountRisk`
(`update_position`, `update_balance`, `update_mark_price`, `add_pending`, ...): per event
batch O(symbols and assets touched), per reservation O(1) here (plus the engine's own cost).
A REST load (no `Changes`) is diffed in full; static data changes (new brackets or
instruments) rebuild the aggregate. `view()` is the order path: no I/O, O(1); the view is
cached until something changes or the clock moves on by a millisecond.

`fingerprint` is the sum of the reservations' nonces (two 52-bit halves, mod 2^52): with
`data_token` (the Redis data version's random token) it names the exact content of a mirror,
which is what a pipelined Redis reservation is checked against (redis_scripts.RESERVE).
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
from margin_gate.state.data import Changes
from margin_gate.state.data import Health
from margin_gate.state.data import PosKey
from margin_gate.state.data import Prices
from margin_gate.state.effective import effective_balance
from margin_gate.state.effective import effective_balances
from margin_gate.state.effective import effective_positions
from margin_gate.state.effective import effective_snapshot
from margin_gate.state.effective import open_loss_usd
from margin_gate.state.reservations import HALF
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
        self.data_token: str | None = None  # Redis: the token of `data.version`; None: memory
        self.fingerprint = (0, 0)
        self._mirror_problem: str | None = None
        self.risk: AccountRisk | None = None
        self.risk_error: str | None = "account state not loaded"
        self._positions: dict[PosKey, Position] = {}
        self._balances: dict[str, Balance] = {}
        self._view: AccountView | None = None
        # (now ms, prices age, account age, stale reason) of the last view: a reservation
        # change keeps it for the same millisecond unless it brings a symbol not yet judged
        self._judged: tuple[int, int | None, int | None, str | None] | None = None
        self._versions: Versions | None = None
        self._listed: tuple[Reservation, ...] | None = None
        self._snapshot: AccountSnapshot | None = None
        self._snapshot_fn = self.snapshot
        self.fresh = Freshness(config)
        self._mark_times = MappingProxyType(self.prices.mark_times)

    # -- READ --

    @property
    def mirror_problem(self) -> str | None:
        """Set by the Redis follower while the mirror is out of sync (makes the view stale)."""
        return self._mirror_problem

    @mirror_problem.setter
    def mirror_problem(self, problem: str | None) -> None:
        self._mirror_problem = problem
        self._view = self._judged = None

    @property
    def versions(self) -> Versions:
        found = self._versions
        if found is None:
            content = ""
            if self.data_token is not None:
                content = f"{self.data_token}|{self.fingerprint[0]}|{self.fingerprint[1]}"
            found = self._versions = Versions(self.data.version, self.inflight_version, content)
        return found

    def view(self) -> AccountView:
        """The order path's view: cached until a change or the next millisecond."""
        now = self.clock.now_ms()
        cached = self._view
        if cached is not None and cached.now_ms == now:
            return cached
        judged = self._judged
        if judged is not None and judged[0] == now:
            _, prices_age, account_age, reason = judged
        else:
            prices_age, account_age, reason = self.fresh.judge(self, now)
            self._judged = (now, prices_age, account_age, reason)
        listed = self._listed
        if listed is None:
            listed = self._listed = tuple(self.reservations.values())
        data = self.data
        view = self._view = AccountView(
            self.name,
            self.versions,
            now,
            data.loaded,
            self.risk,
            listed,
            prices_age,
            account_age,
            reason,
            self._mark_times,
            data.account_status,
            data.exchange_uni_mmr,
            data.drift,
            data.degraded_reason is not None,
            data.degraded_reason,
            self.health.stream_connected,
            self.config.max_price_age_ms,
            self._snapshot_fn,
        )
        return view

    def snapshot(self) -> AccountSnapshot:
        """Effective immutable snapshot, cached until the next data or price change."""
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

    def replace_data(self, new: AccountData, changes: Changes | None = None) -> None:
        """Swap in new account data and feed the differences to the risk aggregate.

        `changes` (from `Changes.between(old, new)`, `new` a `copy()` of the current data)
        limits the work to what changed; without it everything is compared."""
        old = self.data
        self.data = new
        self._changed_data()
        if self.risk is None or new.static_version != old.static_version or not old.loaded:
            self.fresh.invalidate()
            self.rebuild()
            return
        try:
            if changes is None or changes.full:
                self.fresh.invalidate()
                self._sync_all(old, new)
            elif changes:
                self._sync_changes(old, new, changes)
            else:
                return
            self.risk.update_open_loss(open_loss_usd(new, self.prices))
        except Exception as exc:  # SnapshotError, a bad leg: fail closed until rebuilt
            self._fail(exc)

    def set_reservations(self, reservations: Mapping[str, Reservation], version: int) -> None:
        """Replace the in-flight set (a reload)."""
        removed = [k for k in self.reservations if k not in reservations]
        added = [r for k, r in reservations.items() if self.reservations.get(k) != r]
        self.apply_reservations(added, removed, version)

    def apply_reservations(
        self, added: Iterable[Reservation], removed: Iterable[str], version: int
    ) -> None:
        """Add and drop reservations (by id); `version` is the new inflight version. A
        reservation already present under the same id with the same legs and nonce only has
        its state replaced (settle): the projection is unchanged."""
        self.inflight_version = version
        self._versions = None
        self._view = None  # the judgement stays (see `_judged`)
        self._listed = None
        risk = self.risk
        for rid in removed:
            gone = self.reservations.pop(rid, None)
            if gone is not None:
                self._count(gone.nonce, -1)
                if risk is not None:
                    risk.remove_pending(_res_key(rid))
        new: list[Reservation] = []
        for r in added:
            current = self.reservations.get(r.id)
            if current is not None:
                if current.legs == r.legs and current.nonce == r.nonce:
                    self.reservations[r.id] = r  # state change only
                    continue
                self.reservations.pop(r.id)
                self._count(current.nonce, -1)
                if risk is not None:
                    risk.remove_pending(_res_key(r.id))
            self.reservations[r.id] = r
            self._count(r.nonce, 1)
            new.append(r)
            if risk is not None:
                try:
                    risk.add_pending(_pending(r))
                except Exception as exc:
                    self._fail(exc)
                    risk = None
        if new and self.fresh.add_symbols(_futures_symbols(new)):
            self._judged = None

    def update_prices(self, marks: Mapping[str, PriceTick], index: Mapping[str, PriceTick]) -> None:
        """Record price ticks (time = local receive ms) and move the aggregate."""
        if not marks and not index:
            return
        self._view = self._judged = None
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
        self._view = self._judged = None

    def rebuild(self) -> None:
        """Rebuild the aggregate from the effective snapshot and the reservations."""
        self._changed_data()
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

    def _changed_data(self) -> None:
        self._view = self._judged = None
        self._versions = None
        self._snapshot = None

    def _count(self, nonce: int, sign: int) -> None:
        a, b = self.fingerprint  # + / − the nonce's halves (`split_nonce`), mod 2^52
        self.fingerprint = ((a + sign * (nonce >> 52)) % HALF, (b + sign * nonce) % HALF)

    def _fail(self, exc: Exception) -> None:
        self.risk = None
        self.risk_error = MODEL_ERROR.format(error=exc)
        self._view = self._judged = None

    def _sync_all(self, old: AccountData, new: AccountData) -> None:
        self._sync_positions(effective_positions(new))
        self._sync_balances(effective_balances(new))
        self._sync_orders(old, new, old.open_orders.keys() | new.open_orders.keys())

    def _sync_changes(self, old: AccountData, new: AccountData, changes: Changes) -> None:
        """Only the symbols / assets / orders a batch touched (a pending fill touches its
        symbol's position part and its open assets, before and after)."""
        keys = changes.keys
        symbols = {k[1] for k in keys["positions"]}
        assets = set(keys["balances"])
        for fk in keys["fills"]:
            for fill in (old.fills.get(fk), new.fills.get(fk)):
                if fill is not None:
                    if fill.market != "MARGIN":
                        symbols.add(fill.symbol)
                    assets.update(fill.open_assets)
        if symbols:
            self._sync_symbols(new, symbols)
        if assets:
            self._sync_assets(new, assets)
        orders = keys["open_orders"]
        if orders:
            self._sync_orders(old, new, orders)
            symbols.update(k.split(":")[1] for k in orders if not k.startswith("MARGIN:"))
        self.fresh.add_symbols(symbols)
        self.fresh.add_assets(assets)

    def _sync_symbols(self, new: AccountData, symbols: set[str]) -> None:
        assert self.risk is not None
        effective = effective_positions(new, symbols)
        for symbol in sorted(symbols):
            for key in _pos_keys(symbol):
                before, after = self._positions.get(key), effective.get(key)
                if before == after:
                    continue
                if after is None:
                    assert before is not None
                    del self._positions[key]
                    after = Position(
                        before.symbol, before.market, before.position_side, Decimal(0), Decimal(0)
                    )
                else:
                    self._positions[key] = after
                self.risk.update_position(after)

    def _sync_assets(self, new: AccountData, assets: set[str]) -> None:
        assert self.risk is not None
        for asset in sorted(assets):
            held = asset in new.balances or any(asset in f.open_assets for f in new.fills.values())
            after = effective_balance(new, asset) if held else None
            before = self._balances.get(asset)
            if before == after:
                continue
            if after is None:
                del self._balances[asset]
            else:
                self._balances[asset] = after
            self.risk.update_balance(after or Balance(asset))

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

    def _sync_orders(self, old: AccountData, new: AccountData, keys: Iterable[str]) -> None:
        assert self.risk is not None
        if not self.settings.include_resting_orders:
            return
        for key in sorted(keys):
            before, after = old.open_orders.get(key), new.open_orders.get(key)
            if before == after:
                continue
            if before is not None:
                self.risk.remove_pending(key)
            if after is not None:
                self.risk.add_pending(pending_from_open_order(after))


_MARKETS = ("UM", "CM")
_SIDES = ("BOTH", "LONG", "SHORT")


def _pos_keys(symbol: str) -> list[PosKey]:
    return [(market, symbol, side) for market in _MARKETS for side in _SIDES]


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
