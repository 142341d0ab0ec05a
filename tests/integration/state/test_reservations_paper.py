"""Reservation lifecycle against the paper exchange: released on reject, converted on NEW,
a fill counted exactly once across the ORDER_TRADE_UPDATE → ACCOUNT_UPDATE gap, expiry."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from margin_gate.clock import SystemClock
from margin_gate.margin import OrderLeg
from margin_gate.margin import parse_intent
from margin_gate.margin import project
from margin_gate.state.config import StateConfig
from margin_gate.state.events import Effects
from margin_gate.state.memory import MemoryStore
from margin_gate.state.rest import ExchangeError
from margin_gate.state.runtime import StateRuntime
from margin_gate.state.store import StateStore
from tests.integration.state.support import FAST
from tests.integration.state.support import Paper
from tests.integration.state.support import bases
from tests.integration.state.support import key
from tests.integration.state.support import paper
from tests.support.waiting import eventually_async

D = Decimal
ORDER = "/papi/v1/um/order"


class Recording(MemoryStore):
    """The real memory store, sampling the projected BTCUSDT exposure after every batch (the
    user stream hands over the events that arrived together as one batch)."""

    samples: list[Decimal]
    events: int

    async def apply_events(self, account: str, events: Sequence[Mapping[str, Any]]) -> Effects:
        effects = await super().apply_events(account, events)
        self.samples.append(exposure(self, account))
        self.events += len(events)
        return effects


def exposure(store: StateStore, account: str = "main") -> Decimal:
    """Position + resting BUY orders + in-flight BUY legs on BTCUSDT: what a fill moves."""
    view = store.view(account)
    snap = view.snapshot()
    total = sum((p.amount for p in snap.positions if p.symbol == "BTCUSDT"), D(0))
    total += sum(
        (o.quantity or D(0) for o in snap.open_orders if o.symbol == "BTCUSDT" and o.side == "BUY"),
        D(0),
    )
    for leg in view.inflight_legs:
        if isinstance(leg, OrderLeg) and leg.symbol == "BTCUSDT" and leg.side == "BUY":
            total += leg.quantity or D(0)
    return total


async def gate(store: StateStore, params: dict[str, str], cid: str) -> bool:
    """Check and reserve like the gateway: project, reserve at the viewed versions, retry."""
    for _ in range(10):
        view = store.view("main")
        assert view.stale_reason is None, view.stale_reason
        assert view.risk is not None
        intent = parse_intent(
            "POST", ORDER, {**params, "newClientOrderId": cid}, view.risk.snapshot.instruments
        )
        assert not hasattr(intent, "code"), intent
        projection = project(view.risk, intent)
        if projection.unimmr_after < D("1.5"):
            return False
        r = store.new_reservation("main", cid, projection.worst_case_legs, client_id=cid)
        result = await store.reserve("main", view.versions, [r])
        if result.ok:
            return True
    raise AssertionError("no reservation after 10 tries")


async def send(p: Paper, store: StateStore, params: dict[str, str], cid: str) -> Any:
    try:
        answer = await p.order(ORDER, **params, newClientOrderId=cid)
    except ExchangeError as exc:
        outcome = "unknown" if exc.status == 0 or exc.status >= 500 else "rejected"
        await store.settle("main", cid, outcome)  # type: ignore[arg-type]
        return exc
    await store.settle("main", cid, "accepted", order_id=str(answer["orderId"]))
    return answer


@pytest.fixture
async def setup() -> Any:
    async with paper() as p:
        store = Recording(StateConfig(**{**FAST, "reservation_ttl_ms": 1500}), SystemClock())
        store.samples, store.events = [], 0
        rt = StateRuntime(
            store.config,
            SystemClock(),
            session=p.http,
            bases=bases(p.url),
            accounts={"main": key()},
            store=store,
        )
        await rt.start()
        await eventually_async(lambda: store.view("main").stale_reason is None)
        try:
            yield p, store
        finally:
            await rt.stop()


async def test_reservation_released_on_reject(setup: Any) -> None:
    p, store = setup
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.1",
        "price": "40000",
        "timeInForce": "GTC",
    }
    await p.control(
        "faults",
        {
            "kind": "error",
            "path": ORDER,
            "method": "POST",
            "status": 400,
            "code": -2010,
            "msg": "rejected",
        },
    )
    assert await gate(store, params, "bad1")
    assert [r.id for r in store.view("main").reservations] == ["bad1"]
    answer = await send(p, store, params, "bad1")
    assert isinstance(answer, ExchangeError)
    assert answer.status == 400
    assert store.view("main").reservations == ()


async def test_reservation_converted_on_new(setup: Any) -> None:
    p, store = setup
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.2",
        "price": "40000",
        "timeInForce": "GTC",
    }
    before = exposure(store)
    assert await gate(store, params, "rest2")
    assert exposure(store) == before + D("0.2")
    await send(p, store, params, "rest2")
    await eventually_async(lambda: store.view("main").reservations == ())
    assert any(o.client_order_id == "rest2" for o in store.view("main").snapshot().open_orders)
    assert exposure(store) == before + D("0.2")
    view = store.view("main")
    assert view.risk is not None
    assert any(k.startswith("UM:BTCUSDT:") for k in view.risk.pending._orders)  # counted as resting


async def test_fill_counted_exactly_once_across_the_stream_gap(setup: Any) -> None:
    p, store = setup
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.3"}
    start = exposure(store)
    assert await gate(store, params, "mkt1")
    store.samples.clear()
    store.events = 0
    await send(p, store, params, "mkt1")
    await eventually_async(
        lambda: store.account("main").data.fills == {}
        and store.view("main").reservations == ()
        and store.events >= 3
    )
    assert store.samples, "no stream events seen"
    assert set(store.samples) == {start + D("0.3")}, store.samples


async def test_unconfirmed_reservation_expires(setup: Any) -> None:
    _, store = setup
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
    assert await gate(store, params, "lost1")  # never sent: nothing will confirm it
    await eventually_async(lambda: store.view("main").reservations == (), timeout=4)
