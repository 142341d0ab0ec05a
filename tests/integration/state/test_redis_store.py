"""The Redis store against a real Redis: mirrors, atomic reserve, conversion, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from margin_gate.clock import SystemClock
from margin_gate.margin.legs import order_leg
from margin_gate.state.config import StateConfig
from margin_gate.state.data import Health
from margin_gate.state.lease import Lease
from margin_gate.state.redis_store import NotOwner
from margin_gate.state.redis_store import RedisStore
from tests.support.waiting import eventually_async
from tests.unit.state.builders import account_update
from tests.unit.state.builders import load
from tests.unit.state.builders import otu

pytestmark = pytest.mark.redis
D = Decimal
BUY = order_leg("UM", "BTCUSDT", "BUY", "LIMIT", D("0.5"), price=D(30000))


@pytest.fixture
async def pair(redis_url: str, redis_prefix: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    cfg = StateConfig(
        backend="redis", redis_url=redis_url, key_prefix=redis_prefix, reservation_ttl_ms=800
    )
    clock = SystemClock()
    a, b = RedisStore(cfg, clock), RedisStore(cfg, clock)
    await a.start(["acct"])
    await b.start(["acct"])
    now = clock.now_ms()
    await a.apply_snapshot("acct", load(position="1", usdt="5000", t=now, started=now))
    await a.set_health("acct", Health(True, None, now, now))
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


async def test_follower_sees_the_owner_snapshot(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    await eventually_async(lambda: b.view("acct").loaded and b.view("acct").stale_reason is None)
    assert b.view("acct").versions == a.view("acct").versions
    assert b.view("acct").risk.uni_mmr() == a.view("acct").risk.uni_mmr()  # type: ignore[union-attr]


async def test_reserve_conflict_returns_the_fresh_in_flight_set(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    await eventually_async(lambda: b.view("acct").versions == a.view("acct").versions)
    seen = b.view("acct").versions
    ok = await a.reserve(
        "acct", a.view("acct").versions, [a.new_reservation("acct", "c1", [BUY], client_id="c1")]
    )
    assert ok.ok
    late = await b.reserve("acct", seen, [b.new_reservation("acct", "c2", [BUY], client_id="c2")])
    assert not late.ok
    assert late.view is not None
    assert [r.id for r in late.view.reservations] == ["c1"]
    retry = await b.reserve(
        "acct", late.view.versions, [b.new_reservation("acct", "c2", [BUY], client_id="c2")]
    )
    assert retry.ok
    await eventually_async(lambda: [r.id for r in a.view("acct").reservations] == ["c1", "c2"])
    dup = await a.reserve(
        "acct", a.view("acct").versions, [a.new_reservation("acct", "c1", [BUY], client_id="c1")]
    )
    assert dup.error == "reservation c1 already in flight"


async def test_owner_converts_a_reservation_made_by_another_replica(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    await eventually_async(lambda: b.view("acct").versions == a.view("acct").versions)
    ok = await b.reserve(
        "acct", b.view("acct").versions, [b.new_reservation("acct", "c9", [BUY], client_id="c9")]
    )
    assert ok.ok
    # the owner may not have seen the reservation yet: conversion happens inside the script
    await a.apply_events("acct", [otu(x="NEW", status="NEW", q="0.5", client="c9", order_id=9)])
    await eventually_async(
        lambda: b.view("acct").reservations == () and a.view("acct").reservations == ()
    )
    assert "UM:BTCUSDT:9" in b.account("acct").data.open_orders


async def test_fill_counted_once_on_both_replicas(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    now = a.clock.now_ms()
    trade = otu(
        x="TRADE",
        status="FILLED",
        q="0.5",
        z="0.5",
        l="0.5",
        fill_price="30000",
        trade_id=1,
        t=now,
        client="c1",
    )
    await a.apply_events("acct", [trade])

    def amount(store: RedisStore) -> Decimal:
        return sum((p.amount for p in store.view("acct").snapshot().positions), D(0))

    await eventually_async(lambda: amount(b) == D("1.5"))
    await a.apply_events("acct", [account_update(t=now, position="1.5")])
    await eventually_async(lambda: b.account("acct").data.fills == {} and amount(b) == D("1.5"))


async def test_settle_release_and_expiry(pair: tuple[RedisStore, RedisStore]) -> None:
    a, b = pair
    for rid in ("r1", "r2", "r3"):
        res = await a.reserve(
            "acct", a.view("acct").versions, [a.new_reservation("acct", rid, [BUY], client_id=rid)]
        )
        assert res.ok, res
    await a.settle("acct", "r1", "rejected")
    await a.settle("acct", "r2", "unknown")
    await a.release("acct", ["r3"])
    await eventually_async(lambda: [r.id for r in b.view("acct").reservations] == ["r2"])
    await asyncio.sleep(0.9)  # reservation_ttl_ms=800
    assert await a.expire("acct") == 1
    await eventually_async(
        lambda: b.view("acct").reservations == () and a.view("acct").reservations == ()
    )


async def test_owner_writes_are_fenced_by_the_lease(pair: tuple[RedisStore, RedisStore]) -> None:
    a, _ = pair
    lease = Lease(a.client, a.keys("acct").lease, "replica-b", 5000)
    assert await lease.acquire()
    a.tokens["acct"] = "replica-a"  # a replica that believes it still owns the account
    with pytest.raises(NotOwner):
        await a.apply_events("acct", [otu(x="NEW", status="NEW", q="0.5", client="z", order_id=5)])
    assert "UM:BTCUSDT:5" not in a.account("acct").data.open_orders
    a.tokens["acct"] = "replica-b"
    await a.apply_events("acct", [otu(x="NEW", status="NEW", q="0.5", client="z", order_id=5)])
    assert "UM:BTCUSDT:5" in a.account("acct").data.open_orders
    assert await lease.release()


async def test_a_follower_applies_the_channel_when_its_view_is_read(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    await eventually_async(lambda: b.view("acct").versions == a.view("acct").versions)
    mirror, acct = b.mirror("acct"), b.account("acct")
    iv, coalesced = mirror.iv, mirror.coalesced
    for rid in ("q1", "q2"):
        res = await a.reserve(
            "acct", a.view("acct").versions, [a.new_reservation("acct", rid, [BUY], client_id=rid)]
        )
        assert res.ok, res
    await a.release("acct", ["q1"])
    await eventually_async(lambda: mirror.iv == iv + 3)
    # confirmed at once (versions, fingerprint), the local account untouched until read; q1
    # came and went meanwhile: it never reached the margin engine
    assert sorted(mirror.confirmed) == ["q2"]
    assert list(acct.reservations) == []
    assert mirror.coalesced == coalesced + 1
    view = b.view("acct")
    assert [r.id for r in view.reservations] == ["q2"]
    assert list(acct.reservations) == ["q2"]
    await eventually_async(lambda: a.view("acct").versions == b.view("acct").versions)
    late = await b.reserve(
        "acct", view.versions, [b.new_reservation("acct", "q3", [BUY], client_id="q3")]
    )
    assert late.ok, late


async def test_settle_when_written_behind_then_view_at_once_and_redis_follows(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    a, b = pair
    assert a.pipe is not None
    for rid in ("w1", "w2"):
        res = await a.reserve(
            "acct", a.view("acct").versions, [a.new_reservation("acct", rid, [BUY], client_id=rid)]
        )
        assert res.ok, res
    await a.settle("acct", "w1", "rejected")
    assert [r.id for r in a.view("acct").reservations] == ["w2"]  # before Redis answered
    await eventually_async(lambda: [r.id for r in b.view("acct").reservations] == ["w2"])
    # The connection drops with the SETTLE's reply outstanding: the local release is taken
    # back (counted until the channel or a reload says otherwise), never lost.
    await a.settle("acct", "w2", "rejected")
    a.pipe.close()
    await eventually_async(lambda: b.view("acct").reservations == ())
    await eventually_async(lambda: a.view("acct").reservations == ())
