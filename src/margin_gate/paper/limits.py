"""Rate-limit counters for the `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-1M` headers.

Simple per-minute counters (binance-pm.md §3.4): the paper exchange reports usage like Binance
but never refuses a request for it.
"""

from __future__ import annotations

__all__ = ["MinuteCounter"]


class MinuteCounter:
    """Counts within the current wall-clock minute; resets when the minute changes."""

    def __init__(self) -> None:
        self._minute = -1
        self._count = 0

    def add(self, amount: int, now_ms: int) -> int:
        minute = now_ms // 60_000
        if minute != self._minute:
            self._minute, self._count = minute, 0
        self._count += amount
        return self._count
