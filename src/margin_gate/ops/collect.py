"""Scrape-time metric families read from live objects: accounts, streams, the audit log.

Called by `GatewayMetrics.collect` (ops/metrics.py) when /metrics is scraped, never on the
order path. `label` is the metrics' label guard (bounded, secret-free names).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily

from margin_gate.ops.samples import AccountSample
from margin_gate.ops.samples import StreamSample

__all__ = ["AuditCounters", "collect_accounts", "collect_audit", "collect_streams"]

_P = "margin_gate_"


class AuditCounters(Protocol):
    """What the metrics read from the audit log (audit/log.py `AuditLog`)."""

    @property
    def written(self) -> int: ...
    @property
    def write_errors(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def queue_depth(self) -> int: ...
    @property
    def spilled(self) -> int: ...
    @property
    def streamed(self) -> int: ...
    @property
    def stream_up(self) -> bool | None: ...
    def accepting_risk(self) -> bool: ...


_ACCOUNT_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("uni_mmr", "account_uni_mmr", "uniMMR of the confirmed state (as the exchange computes it)."),
    (
        "uni_mmr_worst_case",
        "account_uni_mmr_worst_case",
        "uniMMR with every open and in-flight order filled on its worse side.",
    ),
    ("exchange_uni_mmr", "account_exchange_uni_mmr", "uniMMR the exchange last reported."),
    ("equity_usd", "account_equity_usd", "Account equity in USD."),
    ("adjusted_equity_usd", "account_adjusted_equity_usd", "Equity after haircuts, in USD."),
    ("maint_margin_usd", "account_maint_margin_usd", "Maintenance margin in USD."),
    ("drift", "account_drift", "Our uniMMR / the exchange's - 1 at the last reconcile."),
)


def collect_accounts(
    label: Callable[[str | None], str], sources: list[Callable[[], Iterable[AccountSample]]]
) -> Iterator[GaugeMetricFamily]:
    samples = [s for source in sources for s in source()]
    if not samples:
        return
    names = {s.account: label(s.account) for s in samples}
    for attr, name, doc in _ACCOUNT_GAUGES:
        family = GaugeMetricFamily(_P + name, doc, labels=["account"])
        for s in samples:
            value = getattr(s, attr)
            if value is not None:
                family.add_metric([names[s.account]], float(value))
        yield family
    age = GaugeMetricFamily(
        _P + "account_state_age_seconds",
        "Age of the account's state by part (prices: oldest mark/index used; account).",
        labels=["account", "part"],
    )
    flags = {
        "loaded": GaugeMetricFamily(_P + "account_loaded", "1 once loaded.", labels=["account"]),
        "fresh": GaugeMetricFamily(
            _P + "account_fresh",
            "1 when fresh enough to decide on (else fail closed).",
            labels=["account"],
        ),
        "degraded": GaugeMetricFamily(
            _P + "account_degraded", "1 when drift is past its bound.", labels=["account"]
        ),
        "stream_connected": GaugeMetricFamily(
            _P + "account_stream_connected", "1 when the user stream is up.", labels=["account"]
        ),
    }
    reservations = GaugeMetricFamily(
        _P + "account_reservations", "Orders let through, not yet confirmed.", labels=["account"]
    )
    for s in samples:
        name = names[s.account]
        if s.prices_age_s is not None:
            age.add_metric([name, "prices"], s.prices_age_s)
        if s.account_age_s is not None:
            age.add_metric([name, "account"], s.account_age_s)
        flags["loaded"].add_metric([name], 1.0 if s.loaded else 0.0)
        flags["fresh"].add_metric([name], 1.0 if s.stale_reason is None else 0.0)
        flags["degraded"].add_metric([name], 1.0 if s.degraded else 0.0)
        flags["stream_connected"].add_metric([name], 1.0 if s.stream_connected else 0.0)
        reservations.add_metric([name], s.reservations)
    yield age
    yield from flags.values()
    yield reservations


def collect_streams(
    label: Callable[[str | None], str], sources: list[Callable[[], Iterable[StreamSample]]]
) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    samples = [s for source in sources for s in source()]
    if not samples:
        return
    reconnects = CounterMetricFamily(
        _P + "stream_reconnects",
        "Stream reconnects (user, market, Redis mirror) since start.",
        labels=["account", "stream"],
    )
    connected = GaugeMetricFamily(
        _P + "stream_connected", "1 when the stream is up.", labels=["account", "stream"]
    )
    for s in samples:
        labels = [label(s.account), label(s.stream)]
        reconnects.add_metric(labels, s.reconnects)
        if s.connected is not None:
            connected.add_metric(labels, 1.0 if s.connected else 0.0)
    yield reconnects
    yield connected


def collect_audit(audit: AuditCounters) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    yield CounterMetricFamily(_P + "audit_records", "Audit records written.", audit.written)
    yield CounterMetricFamily(
        _P + "audit_write_errors",
        "Audit records the file refused (not logged).",
        audit.write_errors,
    )
    yield CounterMetricFamily(
        _P + "audit_errors", "All audit errors (writes, rotation, fsync, stream).", audit.errors
    )
    yield GaugeMetricFamily(
        _P + "audit_queue_depth", "Records waiting for the Redis stream.", audit.queue_depth
    )
    yield CounterMetricFamily(
        _P + "audit_spilled", "Records that overflowed to the spill file.", audit.spilled
    )
    yield CounterMetricFamily(
        _P + "audit_streamed", "Records delivered to the Redis stream.", audit.streamed
    )
    up = audit.stream_up
    if up is not None:
        yield GaugeMetricFamily(_P + "audit_stream_up", "1 when the stream sink is up.", float(up))
    yield GaugeMetricFamily(
        _P + "audit_accepting_risk",
        "0 when the audit log cannot keep its promise (risk-increasing orders refused).",
        1.0 if audit.accepting_risk() else 0.0,
    )
