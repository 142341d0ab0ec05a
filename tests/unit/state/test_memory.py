"""The memory store: views, staleness, check-and-reserve, settle/convert/expire, reconcile."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import order_leg
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import Health
from margin_gate.state.memory import MemoryStore
from margin_gate.state.types import Versions
from tests.unit.state.builders import T0
from tests.unit.state.builders import account_update
from tests.unit.state.builders import clock
from tests.unit.state.builders import config
from tests.unit.state.builders import load
from tests.unit.state.builders import otu

D = Decimal
BUY = order_leg("UM", "BTCUSDT", "BUY", "LIMIT", D("0.5"), price=D(30000))


async def ready(**kw: object) -> tuple[MemoryStore, object]:
    c = clock()
    store = MemoryStore(config(**kw), c)
    await store.apply_snapshot("a", load(position="1", usdt="5000"))
    await store.set_health("a", Health(True, None, T0, T0))
    return store, c


async def test_view_before_load_is_stale() -> None:
    store = MemoryStore(config(), clock())
    view = store.view("a")
    assert view.stale_reason == "account state not loaded yet"
    assert view.risk is None


async def test_loaded_view_is_fresh_with_risk() -> None:
    store, _ = await ready()
    view = store.view("a")
    assert view.stale_reason is None, view.stale_reason
    assert view.risk is not None
    assert view.risk.uni_mmr() > 1
    assert view.snapshot().positions[0].amount == D(1)


async def test_staleness_reasons_name_age_and_limit() -> None:
    store, c = await ready()
    c.advance(6.1)  # type: ignore[attr-defined]
    assert store.view("a").stale_reason == "mark price for BTCUSDT 6100 ms old > 5000 ms limit"
    await store.apply_prices("a", {"BTCUSDT": PriceTick(D(30000), c.now_ms())}, {})  # type: ignore[attr-defined]
    assert store.view("a").stale_reason == "index price for USDT 6100 ms old > 5000 ms limit"
    await store.set_health("a", Health(False, T0 + 2900, T0, T0))
    assert store.view("a").stale_reason == "user stream down since 3.2 s"
    await store.set_health("a", Health(True, None, T0, T0))
    c.advance(60)  # type: ignore[attr-defined]
    assert store.view("a").stale_reason == "account data 66.1 s old > 60 s"


async def test_order_symbol_price_age_is_checked_on_request() -> None:
    store, _ = await ready()
    view = store.view("a")
    assert view.stale_reason_for("ETHUSDT") == "no mark price for ETHUSDT"
    assert view.stale_reason_for("BTCUSDT") is None


async def test_a_reservation_keeps_the_judgement_of_the_same_millisecond_unless_it_matters() -> (
    None
):
    store, c = await ready()
    c.advance(6.1)  # type: ignore[attr-defined]
    before = store.view("a")
    assert before.stale_reason == "mark price for BTCUSDT 6100 ms old > 5000 ms limit"
    r = store.new_reservation("a", "c1", [BUY], client_id="c1")
    assert (await store.reserve("a", before.versions, [r])).ok
    after = store.view("a")  # a new view (versions, reservations), the same judgement
    assert after is not before
    assert after.reservations == (r,)
    assert (after.stale_reason, after.prices_age_ms) == (before.stale_reason, 6100)
    # a reservation the model cannot value makes the account stale at once
    eth = order_leg("UM", "ETHUSDT", "BUY", "LIMIT", D(1), price=D(2000))
    r2 = store.new_reservation("a", "c2", [eth], client_id="c2")
    assert (await store.reserve("a", after.versions, [r2])).ok
    assert "margin model unavailable" in (store.view("a").stale_reason or "")


async def test_reserve_requires_unchanged_versions() -> None:
    store, _ = await ready()
    view = store.view("a")
    r1 = store.new_reservation("a", "c1", [BUY], client_id="c1")
    ok = await store.reserve("a", view.versions, [r1])
    assert ok.ok
    assert ok.versions == Versions(view.version, view.inflight_version + 1)
    r2 = store.new_reservation("a", "c2", [BUY], client_id="c2")
    stale = await store.reserve("a", view.versions, [r2])
    assert not stale.ok
    assert stale.view is not None
    assert [r.id for r in stale.view.reservations] == ["c1"]
    dup = await store.reserve("a", stale.versions, [r1])
    assert dup.error == "reservation c1 already in flight"


async def test_reservation_is_counted_in_the_risk_aggregate() -> None:
    store, _ = await ready()
    before = store.view("a").risk.uni_mmr()  # type: ignore[union-attr]
    r = store.new_reservation("a", "c1", [BUY], client_id="c1")
    await store.reserve("a", store.view("a").versions, [r])
    after = store.view("a").risk.uni_mmr()  # type: ignore[union-attr]
    assert after < before
    await store.settle("a", "c1", "rejected")
    assert store.view("a").reservations == ()
    assert store.view("a").risk.uni_mmr() == before  # type: ignore[union-attr]


async def test_new_converts_the_reservation_into_an_open_order() -> None:
    store, _ = await ready()
    r = store.new_reservation("a", "c1", [BUY], client_id="c1")
    await store.reserve("a", store.view("a").versions, [r])
    await store.settle("a", "c1", "accepted", order_id="1")
    assert store.view("a").reservations[0].state == "accepted"
    v = store.view("a").versions
    await store.apply_events("a", [otu(x="NEW", status="NEW", q="0.5", client="c1")])
    view = store.view("a")
    assert view.reservations == ()
    assert view.versions == Versions(v.data + 1, v.inflight + 1)
    assert "UM:BTCUSDT:1" in store.account("a").data.open_orders


async def test_fill_applied_once_across_the_stream_gap() -> None:
    store, _ = await ready()
    r = store.new_reservation("a", "c1", [BUY], client_id="c1")
    await store.reserve("a", store.view("a").versions, [r])

    def amount() -> Decimal:
        return sum((p.amount for p in store.view("a").snapshot().positions), D(0))

    assert amount() == D(1)
    await store.apply_events("a", [otu(x="NEW", status="NEW", q="0.5", client="c1")])
    await store.apply_events(
        "a",
        [
            otu(
                x="TRADE",
                status="FILLED",
                q="0.5",
                z="0.5",
                l="0.5",
                fill_price="30000",
                trade_id=1,
                t=T0 + 9,
                client="c1",
            )
        ],
    )
    assert amount() == D("1.5")
    await store.apply_events("a", [account_update(t=T0 + 9, position="1.5")])
    assert amount() == D("1.5")
    assert store.account("a").data.fills == {}


async def test_reservations_expire() -> None:
    store, c = await ready(reservation_ttl_ms=1000)
    r = store.new_reservation("a", "c1", [BUY], client_id="c1")
    await store.reserve("a", store.view("a").versions, [r])
    await store.settle("a", "c1", "unknown")
    c.advance(0.5)  # type: ignore[attr-defined]
    assert await store.expire("a") == 0
    c.advance(0.6)  # type: ignore[attr-defined]
    assert await store.expire("a") == 1
    assert store.view("a").reservations == ()


async def test_reconcile_drops_answered_reservations_and_keeps_unknown_ones() -> None:
    store, c = await ready()
    for rid in ("acc", "unk", "fly"):
        r = store.new_reservation("a", rid, [BUY], client_id=rid)
        await store.reserve("a", store.view("a").versions, [r])
    await store.settle("a", "acc", "accepted")
    await store.settle("a", "unk", "unknown")
    c.advance(0.1)  # type: ignore[attr-defined]
    await store.apply_snapshot("a", load(position="1", started=c.now_ms()))  # type: ignore[attr-defined]
    assert sorted(r.id for r in store.view("a").reservations) == ["fly", "unk"]


async def test_loan_reservation_confirmed_by_liability_change_after_answer() -> None:
    store, _ = await ready()
    r = store.new_reservation("a", "loan-1", [LoanLeg("BTC", "BORROW", D("0.1"))])
    await store.reserve("a", store.view("a").versions, [r])
    liability = {
        "e": "liabilityChange",
        "E": T0 + 1,
        "a": "BTC",
        "t": "BORROW",
        "T": 1,
        "p": "0.1",
        "i": "0",
        "l": "0.1",
    }
    await store.apply_events("a", [liability])
    assert [x.id for x in store.view("a").reservations] == ["loan-1"]  # not answered yet
    await store.settle("a", "loan-1", "accepted")
    assert store.view("a").reservations == ()  # the stream already had it


async def test_drift_degrades_and_optionally_fails_closed() -> None:
    from margin_gate.state.drift import DriftReport

    store, _ = await ready(fail_closed_on_drift=True)
    report = DriftReport(D("2.0"), D("1.5"), D("0.333"), "gateway uniMMR 2 vs exchange 1.5")
    await store.apply_snapshot("a", load(position="1"), report)
    view = store.view("a")
    assert view.degraded
    assert view.drift == D("0.333")
    assert view.stale_reason == "model drift: gateway uniMMR 2 vs exchange 1.5"


@pytest.mark.parametrize("outcome", ["accepted", "unknown"])
async def test_settle_after_stream_conversion_is_a_no_op(outcome: str) -> None:
    store, _ = await ready()
    r = store.new_reservation("a", "c1", [BUY], client_id="c1")
    await store.reserve("a", store.view("a").versions, [r])
    await store.apply_events("a", [otu(x="NEW", status="NEW", q="0.5", client="c1")])
    v = store.view("a").versions
    await store.settle("a", "c1", outcome)  # type: ignore[arg-type]
    assert store.view("a").versions == v
    assert replace(store.view("a")).reservations == ()
