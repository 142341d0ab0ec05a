"""GatewayMetrics: families, counting by rule, scrape-time gauges, bounded secret-free labels."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from margin_gate.ops.metrics import LATENCY_BUCKETS
from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.observers import FanOut
from margin_gate.ops.observers import MetricsObserver
from margin_gate.ops.redact import Redactor
from margin_gate.ops.samples import AccountSample
from margin_gate.ops.samples import StreamSample
from margin_gate.proxy.gate import RequestRecord
from margin_gate.proxy.routes import classify

SECRET = "sEcReT0123456789abcdefSECRET0123456789abcdef"
ORDER = classify("POST", "/papi/v1/um/order")
ACCOUNT_INFO = classify("GET", "/papi/v1/account")


def _samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render()[0].decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _record(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "request_id": "r1",
        "received_at_ms": 0,
        "method": "POST",
        "path": "/papi/v1/um/order",
        "route": ORDER,
        "bot": "bot1",
        "account": "main",
        "status": 400,
        "code": -2019,
        "rule": "gate.min_unimmr_after",
        "fate": "refused",
        "duration_ms": 0.25,
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


class _Audit:
    written = 10
    write_errors = 1
    errors = 2
    queue_depth = 7
    spilled = 3
    streamed = 9
    stream_up = True

    def accepting_risk(self) -> bool:
        return False


def test_render_exposes_every_family() -> None:
    m = GatewayMetrics()
    m.request("order", "accept", None, 0.0003, "bot1")
    for stage in ("auth", "check", "reserve", "upstream"):
        m.observe(stage, 0.0001)
    m.set_in_flight(lambda: 2)
    m.set_draining(lambda: False)
    m.add_accounts(lambda: [AccountSample("main", True, uni_mmr=2.0, reservations=1)])
    m.add_streams(lambda: [StreamSample("main", "user", 3, True)])
    m.add_audit(_Audit())

    body, content_type = m.render()

    assert content_type.startswith("text/plain")
    text = body.decode()
    for family in (
        "margin_gate_requests_total",
        "margin_gate_latency_seconds_bucket",
        "margin_gate_in_flight_requests",
        "margin_gate_draining",
        "margin_gate_account_uni_mmr",
        "margin_gate_account_uni_mmr_worst_case",
        "margin_gate_account_equity_usd",
        "margin_gate_account_maint_margin_usd",
        "margin_gate_account_drift",
        "margin_gate_account_state_age_seconds",
        "margin_gate_account_reservations",
        "margin_gate_account_fresh",
        "margin_gate_stream_reconnects_total",
        "margin_gate_stream_connected",
        "margin_gate_audit_queue_depth",
        "margin_gate_audit_spilled_total",
        "margin_gate_audit_write_errors_total",
        "margin_gate_audit_accepting_risk",
        "margin_gate_process_resident_memory_bytes",
    ):
        assert f"# TYPE {family.removesuffix('_bucket').removesuffix('_total')}" in text, family
    stages = {s["stage"] for s in _label_sets(text, "margin_gate_latency_seconds_count")}
    assert stages == {"auth", "check", "reserve", "upstream", "total"}


def _label_sets(text: str, name: str) -> list[dict[str, str]]:
    return [
        s.labels for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    ]


def test_rejection_is_counted_under_its_rule() -> None:
    m = GatewayMetrics()
    observer = MetricsObserver(m)

    observer.observe(_record())
    observer.observe(_record())
    observer.observe(_record(rule=None, fate="answered", status=200, code=None))
    observer.observe(
        _record(route=ACCOUNT_INFO, method="GET", rule=None, fate="answered", status=200)
    )
    observer.observe(_record(rule="upstream.error", fate="unknown", status=503, code=-1007))
    observer.observe(_record(route=None, bot=None, rule="route.bad_path", status=400))

    s = _samples(m)
    key = "margin_gate_requests_total"

    def labels(route: str, decision: str, rule: str, bot: str) -> tuple[tuple[str, str], ...]:
        return tuple(
            sorted({"route": route, "decision": decision, "rule": rule, "bot": bot}.items())
        )

    assert s[(key, labels("order", "reject", "gate.min_unimmr_after", "bot1"))] == 2
    assert s[(key, labels("order", "accept", "", "bot1"))] == 1
    assert s[(key, labels("other", "pass", "", "bot1"))] == 1
    assert s[(key, labels("order", "error", "upstream.error", "bot1"))] == 1
    assert s[(key, labels("none", "reject", "route.bad_path", ""))] == 1
    total = ("margin_gate_latency_seconds_count", (("route", "order"), ("stage", "total")))
    assert s[total] == 4


def test_histogram_buckets_are_cumulative_with_le_semantics() -> None:
    m = GatewayMetrics(process=False)
    m.observe("check", 0.0001)  # exactly on a bound: counted in that bucket (le)
    m.observe("check", 0.00011)
    m.observe("check", 5.0)  # past the last bound: +Inf only

    s = _samples(m)

    def bucket(le: str) -> float:
        labels = (("le", le), ("route", "order"), ("stage", "check"))
        return s[("margin_gate_latency_seconds_bucket", labels)]

    assert bucket("5e-05") == 0
    assert bucket("0.0001") == 1
    assert bucket("0.00015") == 2
    assert bucket("1.0") == 2
    assert bucket("+Inf") == 3
    assert s[("margin_gate_latency_seconds_sum", (("route", "order"), ("stage", "check")))] == (
        0.0001 + 0.00011 + 5.0
    )
    assert LATENCY_BUCKETS[0] == 0.00005
    assert LATENCY_BUCKETS[-1] == 1.0


def test_gauges_read_live_values_at_scrape_time() -> None:
    state: dict[str, Any] = {"uni": 3.0, "in_flight": 0, "reconnects": 0}
    audit = _Audit()
    m = GatewayMetrics(process=False)
    m.set_in_flight(lambda: state["in_flight"])
    m.add_accounts(lambda: [AccountSample("main", True, uni_mmr=state["uni"])])
    m.add_streams(lambda: [StreamSample("main", "user", int(state["reconnects"]), True)])
    m.add_audit(audit)
    uni = ("margin_gate_account_uni_mmr", (("account", "main"),))
    flight = ("margin_gate_in_flight_requests", ())
    reconnects = ("margin_gate_stream_reconnects_total", (("account", "main"), ("stream", "user")))
    depth = ("margin_gate_audit_queue_depth", ())

    first = _samples(m)
    state.update(uni=1.25, in_flight=5, reconnects=2)
    audit.queue_depth = 42
    second = _samples(m)

    assert (first[uni], first[flight], first[reconnects], first[depth]) == (3.0, 0, 0, 7)
    assert (second[uni], second[flight], second[reconnects], second[depth]) == (1.25, 5, 2, 42)


def test_no_secret_in_any_label_or_value() -> None:
    m = GatewayMetrics(redactor=Redactor([SECRET]))
    m.count("order", "reject", f"gate.{SECRET}", SECRET)
    m.count(SECRET, SECRET, SECRET, f"bot {SECRET}")
    m.observe(SECRET, 0.001, SECRET)
    m.add_accounts(lambda: [AccountSample(f"acct-{SECRET}", True, stale_reason=SECRET)])
    m.add_streams(lambda: [StreamSample(SECRET, SECRET, 1, True)])
    FanOut(MetricsObserver(m)).observe(_record(bot=SECRET, rule=SECRET, path=f"/x/{SECRET}"))

    text = m.render()[0].decode()

    assert SECRET not in text
    assert SECRET[:16] not in text
    assert 'rule="redacted"' in text
    assert 'route="invalid"' in text


def test_labels_are_bounded() -> None:
    m = GatewayMetrics(max_series=10, process=False)
    for i in range(100):
        m.count("order", "reject", f"rule.{i}", "bot1")

    rows = _label_sets(m.render()[0].decode(), "margin_gate_requests_total")

    assert len(rows) <= 11
    assert any(r["rule"] == "other" for r in rows)
    assert (
        sum(v for (name, _), v in _samples(m).items() if name == "margin_gate_requests_total")
        == 100
    )


def test_label_values_that_are_not_names_are_replaced() -> None:
    m = GatewayMetrics(process=False)
    m.count("order", "reject", 'x"} 1\nevil{a="', "bot-1_ok.v2")

    rows = _label_sets(m.render()[0].decode(), "margin_gate_requests_total")

    assert rows == [
        {"route": "order", "decision": "reject", "rule": "invalid", "bot": "bot-1_ok.v2"}
    ]


def test_a_failing_observer_does_not_stop_the_others() -> None:
    class Boom:
        def observe(self, record: RequestRecord) -> None:
            raise RuntimeError("boom")

    m = GatewayMetrics(process=False)
    FanOut(Boom(), MetricsObserver(m)).observe(_record())

    assert "gate.min_unimmr_after" in m.render()[0].decode()


def test_stage_timings_carried_by_the_record_are_observed() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Timed:
        request_id: str = "r1"
        route: object = ORDER
        bot: str = "bot1"
        rule: str | None = None
        fate: str = "answered"
        duration_ms: float = 0.5
        auth_us: int | None = 40
        check_us: int | None = 60
        reserve_us: int | None = None
        upstream_us: int | None = 300

    m = GatewayMetrics(process=False)
    MetricsObserver(m).observe(Timed())  # type: ignore[arg-type]

    counts = {
        labels: v
        for (name, labels), v in _samples(m).items()
        if name == "margin_gate_latency_seconds_count"
    }
    assert counts == {
        (("route", "order"), ("stage", stage)): 1.0
        for stage in ("auth", "check", "upstream", "total")
    }
