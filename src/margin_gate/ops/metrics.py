"""Prometheus metrics: hot-path counts and latency histograms kept as plain numbers, and every
other family read from live objects at scrape time.

The order path only ever does `count(...)` / `observe(...)` (a dict lookup, a bisect and two
additions: ≈0.3 µs, against 2-4 µs for prometheus-client's own `labels().observe()`, measured
by bench/_ops_cost.py). Everything else — per-account uniMMR, equity, maintenance margin,
drift, state ages, stream reconnects, audit queue, in-flight count — is read when /metrics is
scraped, from callables the app registers (`add_accounts`, `add_streams`, `add_audit`,
`set_in_flight`). One `CollectorRegistry` per `GatewayMetrics`, never the global one.

Record only from the event loop's thread (like `AuditLog.write`): the counters are plain ints.

Label values are bounded and secret-free: route kinds and decisions come from fixed sets; a
rule, bot or account name must look like a name (`[A-Za-z0-9_.:-]`, ≤ 64 chars) or it is
exported as "invalid"; any value containing configured key material is exported as
"redacted"; past `max_series` label combinations new ones are folded into rule="other".
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import ProcessCollector
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

from margin_gate.ops.collect import AuditCounters
from margin_gate.ops.collect import collect_accounts
from margin_gate.ops.collect import collect_audit
from margin_gate.ops.collect import collect_streams
from margin_gate.ops.redact import Redactor
from margin_gate.ops.samples import AccountSample
from margin_gate.ops.samples import StreamSample

__all__ = [
    "DECISIONS",
    "LATENCY_BUCKETS",
    "ROUTE_KINDS",
    "STAGES",
    "AuditCounters",
    "Decision",
    "GatewayMetrics",
    "Stage",
]

Stage = Literal[
    "auth",  # API key lookup + parameter parsing + signature/timestamp/replay check
    "check",  # the risk decision: state view, projection, policy rules
    "reserve",  # recording the reservation in the state store (a Redis round trip with Redis)
    "upstream",  # the exchange round trip
    "total",  # request received -> answer sent
]
STAGES: tuple[Stage, ...] = ("auth", "check", "reserve", "upstream", "total")
Decision = Literal[
    "accept",  # an order the gateway forwarded
    "pass",  # a non-order request forwarded (reads, cancels, listenKey, ...)
    "reject",  # refused by the gateway (auth, routing, policy, ...): nothing was sent
    "error",  # sent, or tried to, but no usable answer (upstream unreachable, timeout)
]
DECISIONS: tuple[Decision, ...] = ("accept", "pass", "reject", "error")
ROUTE_KINDS = ("order", "cancel", "money_out", "api_key", "other", "none")
# 50 µs … 1 s: the gateway's own stages are tens to hundreds of µs; Binance's round trip is
# 10-35 ms co-located and up to 500 ms from afar.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075,
    0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.02, 0.035, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
DEFAULT_MAX_SERIES = 1000

_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_P = "margin_gate_"


class _Histogram:
    __slots__ = ("counts", "total")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.total = 0.0


class GatewayMetrics:
    """The gateway's metrics. Hot path: `count`, `observe`, `request`. Scrape: `render`."""

    def __init__(
        self,
        *,
        redactor: Redactor | None = None,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        max_series: int = DEFAULT_MAX_SERIES,
        process: bool = True,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._redactor = redactor or Redactor()
        self._bounds = tuple(sorted(buckets))
        self._max_series = max_series
        self._requests: dict[tuple[str, str, str | None, str | None], int] = {}
        self._hists: dict[tuple[str, str], _Histogram] = {}
        self._labels: dict[str | None, str] = {}
        self._in_flight: Callable[[], int] | None = None
        self._draining: Callable[[], bool] | None = None
        self._accounts: list[Callable[[], Iterable[AccountSample]]] = []
        self._streams: list[Callable[[], Iterable[StreamSample]]] = []
        self._audit: AuditCounters | None = None
        self.registry.register(_Collector(self))
        if process:
            ProcessCollector(namespace="margin_gate", registry=self.registry)

    # -- HOT PATH --

    def count(
        self, route: str, decision: str, rule: str | None = None, bot: str | None = None
    ) -> None:
        """One request, by route kind, decision, the rule that refused it, and bot name."""
        key = (route, decision, rule, bot)
        try:
            self._requests[key] += 1
        except KeyError:
            self._new_series(key)

    def observe(self, stage: str, seconds: float, route: str = "order") -> None:
        """One latency observation of `stage` for a request of `route` kind."""
        hist = self._hists.get((stage, route))
        if hist is None:
            hist = self._new_hist(stage, route)
        hist.counts[bisect_left(self._bounds, seconds)] += 1
        hist.total += seconds

    def request(
        self,
        route: str,
        decision: str,
        rule: str | None,
        total_s: float,
        bot: str | None = None,
    ) -> None:
        """`count` + `observe("total", ...)`: what an observer calls once per request."""
        self.count(route, decision, rule, bot)
        self.observe("total", total_s, route)

    # -- SCRAPE-TIME SOURCES --

    def set_in_flight(self, source: Callable[[], int]) -> None:
        """Requests in progress (ops/shutdown.py `InFlight.__len__`)."""
        self._in_flight = source

    def set_draining(self, source: Callable[[], bool]) -> None:
        """Whether shutdown has begun (ops/shutdown.py `ShutdownSequence.draining`)."""
        self._draining = source

    def add_accounts(self, source: Callable[[], Iterable[AccountSample]]) -> None:
        """Per-account gauges (ops/samples.py `account_samples`)."""
        self._accounts.append(source)

    def add_streams(self, source: Callable[[], Iterable[StreamSample]]) -> None:
        """Stream connection state and reconnect counts (ops/samples.py `stream_samples`)."""
        self._streams.append(source)

    def add_audit(self, audit: AuditCounters) -> None:
        self._audit = audit

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for the /metrics answer."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- internals --

    def _new_series(self, key: tuple[str, str, str | None, str | None]) -> None:
        if len(self._requests) >= self._max_series:
            key = (key[0], key[1], "other", None)
        self._requests[key] = self._requests.get(key, 0) + 1

    def _new_hist(self, stage: str, route: str) -> _Histogram:
        hist = _Histogram(len(self._bounds) + 1)
        self._hists[(stage, route)] = hist
        return hist

    def label(self, value: str | None) -> str:
        """The exported form of a free label value (memoized, bounded)."""
        cached = self._labels.get(value)
        if cached is not None:
            return cached
        if value is None:
            out = ""
        elif self._redactor.contains_secret(value):
            out = "redacted"
        elif _NAME.fullmatch(value):
            out = value
        else:
            out = "invalid"
        if len(self._labels) < 4 * self._max_series:
            self._labels[value] = out
        return out

    def _fixed(self, value: str, allowed: Sequence[str]) -> str:
        return value if value in allowed else "invalid"

    # -- collection (called by the registry at scrape time) --

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        yield self._collect_requests()
        yield self._collect_latency()
        yield from self._collect_gauges()
        yield from collect_accounts(self.label, self._accounts)
        yield from collect_streams(self.label, self._streams)
        if self._audit is not None:
            yield from collect_audit(self._audit)

    def _collect_requests(self) -> CounterMetricFamily:
        family = CounterMetricFamily(
            _P + "requests",
            "Requests by route kind, decision, refusing rule (empty: none) and bot name.",
            labels=["route", "decision", "rule", "bot"],
        )
        merged: dict[tuple[str, str, str, str], int] = {}
        for (route, decision, rule, bot), n in list(self._requests.items()):
            key = (
                self._fixed(route, ROUTE_KINDS),
                self._fixed(decision, DECISIONS),
                self.label(rule),
                self.label(bot),
            )
            merged[key] = merged.get(key, 0) + n
        for labels, n in sorted(merged.items()):
            family.add_metric(list(labels), n)
        return family

    def _collect_latency(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            _P + "latency_seconds",
            "Time per request stage (auth, check, reserve, upstream, total) by route kind.",
            labels=["stage", "route"],
        )
        bounds = self._bounds
        for (stage, route), hist in sorted(self._hists.items()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, n in zip(bounds, hist.counts, strict=False):
                cumulative += n
                buckets.append((_float_text(bound), cumulative))
            cumulative += hist.counts[-1]
            buckets.append(("+Inf", cumulative))
            family.add_metric(
                [self._fixed(stage, STAGES), self._fixed(route, ROUTE_KINDS)],
                buckets,
                hist.total,
            )
        return family

    def _collect_gauges(self) -> Iterator[GaugeMetricFamily]:
        if self._in_flight is not None:
            yield GaugeMetricFamily(
                _P + "in_flight_requests", "Requests being handled now.", self._in_flight()
            )
        if self._draining is not None:
            yield GaugeMetricFamily(
                _P + "draining", "1 once shutdown has begun.", 1.0 if self._draining() else 0.0
            )
        info = GaugeMetricFamily(_P + "process_info", "This worker process.", labels=["pid"])
        info.add_metric([str(os.getpid())], 1.0)
        yield info


class _Collector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        return self._metrics.collect()


def _float_text(value: float) -> str:
    return repr(float(value))
