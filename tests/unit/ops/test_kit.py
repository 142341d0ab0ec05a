"""OpsKit: what the app wires, end to end through a real ASGI call and a real MemoryStore."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from margin_gate.ops.health import OPS_PATHS
from margin_gate.ops.kit import OpsKit
from margin_gate.proxy.gate import RequestRecord
from margin_gate.proxy.routes import classify
from margin_gate.state.data import Health
from margin_gate.state.memory import MemoryStore
from tests.unit.state.builders import T0
from tests.unit.state.builders import clock
from tests.unit.state.builders import config
from tests.unit.state.builders import load

SECRET = "kitSECRET0123456789abcdefghijklmnopqrstuv"


async def _call(kit: OpsKit, path: str) -> tuple[int, bytes]:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "client": ("127.0.0.1", 1)}
    await kit.endpoints(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def _refusal() -> RequestRecord:
    return RequestRecord(
        request_id="r1", received_at_ms=0, method="POST", path="/papi/v1/um/order",
        route=classify("POST", "/papi/v1/um/order"), bot="bot1", account="main", status=400,
        code=-2010, rule="policy.min_unimmr_after", fate="refused", duration_ms=0.3,
    )  # fmt: skip


async def test_not_ready_until_state_is_watched_then_follows_the_store(tmp_path: Path) -> None:
    kit = OpsKit(process_metrics=False, request_log=False)
    assert (await _call(kit, "/readyz"))[0] == 503

    store = MemoryStore(config(), clock())
    await store.apply_snapshot("main", load(position="1", usdt="5000"))
    await store.set_health("main", Health(True, None, T0, T0))
    runtime = SimpleNamespace(store=store, syncs={})
    kit.watch_state(runtime, ["main"])

    assert (await _call(kit, "/readyz"))[0] == 200
    status, body = await _call(kit, "/metrics")
    assert status == 200
    assert b'margin_gate_account_fresh{account="main"} 1.0' in body

    await store.set_health("main", Health(False, T0, T0, T0))
    status, body = await _call(kit, "/readyz")
    assert status == 503
    assert "user stream down" in orjson.loads(body)["checks"]["main"]["reason"]


async def test_observer_counts_a_rejection_under_its_rule_after_the_audit() -> None:
    seen: list[str] = []

    class Audit:
        def observe(self, record: RequestRecord) -> None:
            seen.append(record.request_id)

    kit = OpsKit(process_metrics=False, request_log=False, secrets=[SECRET])
    kit.observer(Audit()).observe(_refusal())

    _, body = await _call(kit, "/metrics")
    assert seen == ["r1"]
    assert (
        b'margin_gate_requests_total{bot="bot1",decision="reject",route="order",'
        b'rule="policy.min_unimmr_after"} 1.0' in body
    )


async def test_in_flight_and_draining_show_in_metrics_and_readiness() -> None:
    kit = OpsKit(process_metrics=False, request_log=False)
    kit.ready_without_state()
    kit.in_flight.enter()
    assert (await _call(kit, "/readyz"))[0] == 200

    kit.shutdown.begin()

    status, body = await _call(kit, "/readyz")
    assert status == 503
    assert orjson.loads(body)["draining"] is True
    _, metrics = await _call(kit, "/metrics")
    assert b"margin_gate_in_flight_requests 1.0" in metrics
    assert b"margin_gate_draining 1.0" in metrics
    assert "/metrics" in OPS_PATHS


async def test_start_and_stop_without_a_signal_restore_the_handlers(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    kit = OpsKit(process_metrics=False, drain_s=0.1, exit_within_s=2)
    kit.request_log = None
    ran: list[str] = []

    async def step() -> None:
        ran.append("step")

    kit.shutdown.add("step", step, timeout_s=1)
    kit.start()
    assert signal.getsignal(signal.SIGTERM) != before

    results = await kit.stop()

    assert [r.name for r in results] == ["drain", "step"]
    assert ran == ["step"]
    assert signal.getsignal(signal.SIGTERM) == before
