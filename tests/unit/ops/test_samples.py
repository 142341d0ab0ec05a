"""Scrape-time readings from a real MemoryStore: account gauges and readiness with reasons."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from margin_gate.ops.health import OpsEndpoints
from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.samples import account_readiness
from margin_gate.ops.samples import account_samples
from margin_gate.ops.samples import stream_samples
from margin_gate.state.data import Health
from margin_gate.state.memory import MemoryStore
from tests.unit.state.builders import T0
from tests.unit.state.builders import clock
from tests.unit.state.builders import config
from tests.unit.state.builders import load


async def _store() -> MemoryStore:
    store = MemoryStore(config(), clock())
    await store.apply_snapshot("a", load(position="1", usdt="5000"))
    await store.set_health("a", Health(True, None, T0, T0))
    return store


async def test_account_samples_value_the_live_view() -> None:
    store = await _store()

    [sample] = account_samples(store, ["a"])

    view = store.view("a")
    assert view.risk is not None
    assert sample.account == "a"
    assert sample.loaded
    assert sample.stale_reason is None
    assert sample.uni_mmr == pytest.approx(float(view.risk.uni_mmr(with_pending=False)))
    assert sample.equity_usd is not None
    assert sample.equity_usd > 0
    assert sample.maint_margin_usd is not None
    assert sample.maint_margin_usd > 0
    assert sample.stream_connected
    assert sample.account_age_s == 0


async def test_an_unloaded_account_has_no_numbers_and_is_not_ready() -> None:
    store = MemoryStore(config(), clock())

    [sample] = account_samples(store, ["b"])
    [ready] = account_readiness(store, ["b"])

    assert not sample.loaded
    assert sample.uni_mmr is None
    assert not ready.ready
    assert ready.reason == "account state not loaded yet"


async def test_readyz_turns_unready_when_the_user_stream_drops() -> None:
    store = await _store()
    ops = OpsEndpoints(readiness=lambda: account_readiness(store, ["a"]))
    assert ops.answer("GET", "/readyz")[0] == 200

    await store.set_health("a", Health(False, T0, T0, T0))
    status, _, body = ops.answer("GET", "/readyz")

    assert status == 503
    assert b"user stream down since" in body
    await store.set_health("a", Health(True, None, T0, T0))
    assert ops.answer("GET", "/readyz")[0] == 200


async def test_account_gauges_follow_the_store_between_scrapes() -> None:
    store = await _store()
    metrics = GatewayMetrics(process=False)
    metrics.add_accounts(lambda: account_samples(store, ["a"]))
    assert b'margin_gate_account_stream_connected{account="a"} 1.0' in metrics.render()[0]

    await store.set_health("a", Health(False, T0, T0, T0))

    text = metrics.render()[0]
    assert b'margin_gate_account_stream_connected{account="a"} 0.0' in text
    assert b'margin_gate_account_fresh{account="a"} 0.0' in text


def test_stream_samples_read_the_supervisors_counters() -> None:
    def sync(user_reconnects: int, connected: bool) -> SimpleNamespace:
        return SimpleNamespace(
            user=SimpleNamespace(reconnects=user_reconnects, connected=connected),
            marks=SimpleNamespace(reconnects=0, connected=True),
        )

    runtime = SimpleNamespace(
        syncs={"b": sync(1, True), "a": sync(4, False)},
        store=SimpleNamespace(follower=SimpleNamespace(reconnects=2, connected=True)),
    )

    samples = stream_samples(runtime)

    assert [(s.account, s.stream, s.reconnects, s.connected) for s in samples] == [
        ("a", "user", 4, False),
        ("a", "market", 0, True),
        ("b", "user", 1, True),
        ("b", "market", 0, True),
        ("", "mirror", 2, True),
    ]
