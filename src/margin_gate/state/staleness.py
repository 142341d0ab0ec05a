"""Staleness rules: is this account's state fresh enough to let a risk-increasing order pass?

Fail closed (issue 5 §3): the first rule that fails names the reason, with the age and limit.
1. account data never loaded;            2. the replica's mirror is out of sync with Redis;
3. the user stream is down;              4. account data older than `max_account_age_ms`
   (a connected stream refreshes it on every event, pong and keepalive);
5. the margin model cannot value the account (a missing bracket, mark or index price);
6. a mark price of a symbol the account holds, orders or reserves, or an index price of an
   asset it holds, older than `max_price_age_ms` (judged by local receive time);
7. drift beyond `drift_bound` with `fail_closed_on_drift`.
The oldest relevant mark / index is cached and recomputed only when it may have changed
(data changes, or a tick for the cached oldest), so judging is O(1) per order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin_gate.state.config import StateConfig

if TYPE_CHECKING:
    from margin_gate.state.account import LiveAccount

__all__ = ["Freshness"]

NOT_LOADED = "account state not loaded yet"
STREAM_NEVER = "user stream not connected yet"
STREAM_DOWN = "user stream down since {s:.1f} s"
ACCOUNT_OLD = "account data {s:.1f} s old > {limit:.0f} s"
NO_MARK = "no mark price for {symbol}"
MARK_OLD = "mark price for {symbol} {age} ms old > {limit} ms limit"
NO_INDEX = "no index price for {asset}"
INDEX_OLD = "index price for {asset} {age} ms old > {limit} ms limit"
DRIFT = "model drift: {reason}"

_Oldest = tuple[str, int]  # (name, receive ms); ms 0 = no price at all


class Freshness:
    """Judges an account's freshness; caches the oldest relevant prices."""

    __slots__ = ("_assets", "_config", "_index", "_mark", "_symbols")

    def __init__(self, config: StateConfig) -> None:
        self._config = config
        self._mark: _Oldest | None = None
        self._index: _Oldest | None = None
        self._symbols: set[str] = set()  # the symbols `_mark` was computed over
        self._assets: set[str] = set()  # the assets `_index` was computed over

    def add_symbols(self, symbols: set[str]) -> bool:
        """New reservations: recompute only if they bring a symbol not yet judged (returns
        whether it will). (Dropping a reservation never invalidates: judging one symbol too
        many errs on the stale side, until the next data change or tick.)"""
        if symbols <= self._symbols:
            return False
        self._mark = None
        return True

    def add_assets(self, assets: set[str]) -> None:
        """Balances changed: recompute only if an asset not yet judged may matter now."""
        if not assets <= self._assets:
            self._index = None

    def invalidate(self) -> None:
        self._mark = self._index = None

    def touched_mark(self, symbol: str) -> None:
        if self._mark is not None and self._mark[0] == symbol:
            self._mark = None

    def touched_index(self, asset: str) -> None:
        if self._index is not None and self._index[0] == asset:
            self._index = None

    def _oldest_mark(self, account: LiveAccount) -> _Oldest | None:
        if self._mark is None:
            times = account.prices.mark_times
            self._symbols = account.symbols()
            found = [(times.get(s, 0), s) for s in self._symbols]
            self._mark = ("", -1) if not found else (min(found)[1], min(found)[0])
        return None if self._mark[1] < 0 else self._mark

    def _oldest_index(self, account: LiveAccount) -> _Oldest | None:
        if self._index is None:
            times = account.prices.index_times
            self._assets = account.assets()
            found = [(times.get(a, 0), a) for a in self._assets]
            self._index = ("", -1) if not found else (min(found)[1], min(found)[0])
        return None if self._index[1] < 0 else self._index

    def judge(self, account: LiveAccount, now: int) -> tuple[int | None, int | None, str | None]:
        """(prices age ms, account data age ms, stale reason or None)."""
        health = account.health
        account_age = now - health.sync_ms if health.sync_ms else None
        mark, index = self._oldest_mark(account), self._oldest_index(account)
        ages: list[int] = []
        for item in (mark, index):
            if item is not None and item[1] > 0:
                ages.append(max(now - item[1], 0))
        prices_age = max(ages) if ages else None
        reason = self._reason(account, now, account_age, mark, index)
        return prices_age, account_age, reason

    def _reason(
        self,
        account: LiveAccount,
        now: int,
        account_age: int | None,
        mark: _Oldest | None,
        index: _Oldest | None,
    ) -> str | None:
        cfg = self._config
        if not account.data.loaded:
            return NOT_LOADED
        if account.mirror_problem is not None:
            return account.mirror_problem
        health = account.health
        if not health.stream_connected:
            if health.down_since_ms is None:
                return STREAM_NEVER
            return STREAM_DOWN.format(s=max(now - health.down_since_ms, 0) / 1000)
        if account_age is None or account_age > cfg.max_account_age_ms:
            return ACCOUNT_OLD.format(
                s=(account_age or now) / 1000, limit=cfg.max_account_age_ms / 1000
            )
        if account.risk is None:
            return account.risk_error or NOT_LOADED
        price = _price_reason(mark, index, now, cfg.max_price_age_ms)
        if price is not None:
            return price
        reason = account.data.degraded_reason
        if reason is not None and cfg.fail_closed_on_drift:
            return DRIFT.format(reason=reason)
        return None


def _price_reason(mark: _Oldest | None, index: _Oldest | None, now: int, limit: int) -> str | None:
    for item, missing, old in ((mark, NO_MARK, MARK_OLD), (index, NO_INDEX, INDEX_OLD)):
        if item is None:
            continue
        name, t = item
        if t == 0:
            return missing.format(symbol=name, asset=name)
        if now - t > limit:
            return old.format(symbol=name, asset=name, age=now - t, limit=limit)
    return None
