"""Scrape-time readings of live objects: per-account state, stream supervisors, readiness.

Nothing here runs on the order path. `account_samples(store, names)` reads each account's
`AccountView` (no I/O) and values it with the margin engine's breakdown (O(assets));
`stream_samples(runtime)` reads the counters `AccountSync`/`UserStream`/`MarkStream`/the Redis
`Follower` keep as plain attributes (docs/state.md "Counters"); `account_readiness(store,
names)` says, per account, whether orders can be decided now and if not why (the view's own
fail-closed `stale_reason`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "AccountSample",
    "Readiness",
    "StreamSample",
    "account_readiness",
    "account_samples",
    "stream_samples",
]


@dataclass(frozen=True, slots=True)
class AccountSample:
    """One account's gauges. Numbers are floats (Prometheus has no decimals); None = unknown."""

    account: str
    loaded: bool
    stale_reason: str | None = None
    uni_mmr: float | None = None
    uni_mmr_worst_case: float | None = None
    exchange_uni_mmr: float | None = None
    equity_usd: float | None = None
    adjusted_equity_usd: float | None = None
    maint_margin_usd: float | None = None
    drift: float | None = None
    prices_age_s: float | None = None
    account_age_s: float | None = None
    reservations: int = 0
    stream_connected: bool = False
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class StreamSample:
    account: str
    stream: str  # "user", "market", "mirror" (the Redis notification subscription)
    reconnects: int
    connected: bool | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether one component (an account) is ready, and why not."""

    name: str
    ready: bool
    reason: str | None = None


def _num(value: Decimal | float | int | None) -> float | None:
    return None if value is None else float(value)


def _age_s(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def account_samples(store: Any, names: Iterable[str]) -> list[AccountSample]:
    """Read every named account from a `StateStore` (state/store.py) now."""
    return [_sample(store.view(name)) for name in names]


def _sample(view: Any) -> AccountSample:
    uni = worst = equity = adjusted = mm = None
    risk = view.risk
    if view.loaded and risk is not None:
        try:
            breakdown = risk.breakdown(with_pending=False)
            uni, equity = _num(breakdown.uni_mmr), _num(breakdown.equity_usd)
            adjusted, mm = _num(breakdown.adjusted_equity_usd), _num(breakdown.maint_margin_usd)
            worst = _num(risk.uni_mmr(with_pending=True))
        except Exception:  # the engine cannot value it (e.g. missing brackets): stale says why
            pass
    return AccountSample(
        account=view.account,
        loaded=view.loaded,
        stale_reason=view.stale_reason,
        uni_mmr=uni,
        uni_mmr_worst_case=worst,
        exchange_uni_mmr=_num(view.exchange_uni_mmr),
        equity_usd=equity,
        adjusted_equity_usd=adjusted,
        maint_margin_usd=mm,
        drift=_num(view.drift),
        prices_age_s=_age_s(view.prices_age_ms),
        account_age_s=_age_s(view.account_age_ms),
        reservations=len(view.reservations),
        stream_connected=bool(view.stream_connected),
        degraded=bool(view.degraded),
    )


def stream_samples(runtime: Any) -> list[StreamSample]:
    """Streams this process runs (`StateRuntime.syncs`: only accounts whose lease it holds)
    and, with Redis, its mirror's subscription."""
    out: list[StreamSample] = []
    for name, sync in sorted(runtime.syncs.items()):
        user, marks = sync.user, sync.marks
        out.append(StreamSample(name, "user", user.reconnects, user.connected))
        out.append(StreamSample(name, "market", marks.reconnects, marks.connected))
    follower = getattr(runtime.store, "follower", None)
    if follower is not None:
        out.append(StreamSample("", "mirror", follower.reconnects, follower.connected))
    return out


def account_readiness(store: Any, names: Iterable[str]) -> list[Readiness]:
    """Per account: ready iff loaded and fresh (`AccountView.stale_reason` is None)."""
    out = []
    for name in names:
        try:
            reason = store.view(name).stale_reason
        except Exception as exc:
            reason = f"state unavailable: {type(exc).__name__}"
        out.append(Readiness(name, reason is None, reason))
    return out
