"""Request observers for operations: metrics per request, and a fan-out to several observers.

The gateway reports every request once to one `RequestObserver` (proxy/gate.py). The app
combines the audit observer, `MetricsObserver` and the request logger (ops/logging.py
`RequestLogger`) with `FanOut(audit, metrics, log)`; each observer's failure is isolated.
"""

from __future__ import annotations

import logging

from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.proxy.gate import RequestObserver
from margin_gate.proxy.gate import RequestRecord

__all__ = ["FanOut", "MetricsObserver", "decision_of"]

_log = logging.getLogger("margin_gate.ops")


def decision_of(record: RequestRecord) -> str:
    """The metrics/audit decision of a finished request (ops/metrics.py `Decision`)."""
    fate = record.fate
    if fate == "refused":
        return "reject"
    if fate == "answered":
        route = record.route
        return "accept" if route is not None and route.kind == "order" else "pass"
    return "error"  # unknown / not_sent


class MetricsObserver:
    """Counts each request under (route kind, decision, rule, bot) and its total latency, and
    observes each stage the record carries (`auth_us`, `check_us`, `reserve_us`,
    `upstream_us`: optional RequestRecord fields, µs; absent or None = not measured)."""

    __slots__ = ("_metrics",)

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def observe(self, record: RequestRecord) -> None:
        route = record.route
        kind = route.kind if route is not None else "none"
        metrics = self._metrics
        metrics.count(kind, decision_of(record), record.rule, record.bot)
        observe = metrics.observe
        observe("total", record.duration_ms / 1000, kind)
        # The stages, spelled out (once per request: no getattr loop).
        us = record.auth_us
        if us is not None:
            observe("auth", us / 1_000_000, kind)
        us = record.check_us
        if us is not None:
            observe("check", us / 1_000_000, kind)
        us = record.reserve_us
        if us is not None:
            observe("reserve", us / 1_000_000, kind)
        us = record.upstream_us
        if us is not None:
            observe("upstream", us / 1_000_000, kind)


class FanOut:
    """Calls every observer in order; one that raises is logged and does not stop the rest."""

    __slots__ = ("_observers",)

    def __init__(self, *observers: RequestObserver) -> None:
        self._observers = observers

    def observe(self, record: RequestRecord) -> None:
        for observer in self._observers:
            try:
                observer.observe(record)
            except Exception as exc:
                _log.error(
                    "observer %s failed for %s: %s",
                    type(observer).__name__,
                    record.request_id,
                    type(exc).__name__,
                )
