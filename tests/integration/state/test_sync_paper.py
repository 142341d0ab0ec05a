"""Live state against the paper exchange over loopback: load, fills, prices, outages."""

from __future__ import annotations

from decimal import Decimal

from margin_gate.state.runtime import StateRuntime
from tests.integration.state.support import paper
from tests.integration.state.support import runtime
from tests.support.waiting import eventually_async

D = Decimal


def amount(rt: StateRuntime, symbol: str = "BTCUSDT") -> Decimal:
    snap = rt.store.view("main").snapshot()
    return sum((p.amount for p in snap.positions if p.symbol == symbol), D(0))


async def fresh(rt: StateRuntime, timeout: float = 5.0) -> None:
    await eventually_async(lambda: rt.store.view("main").stale_reason is None, timeout=timeout)


async def test_state_loads_and_matches_the_exchange() -> None:
    async with paper() as p, runtime(p) as rt:
        await fresh(rt)
        view = rt.store.view("main")
        assert amount(rt) == D(2)
        assert view.risk is not None
        exchange = D((await p.account())["uniMMR"])
        assert abs(view.risk.uni_mmr(with_pending=False) / exchange - 1) < D("1e-8")
        assert view.drift is not None
        assert abs(view.drift) < D("1e-8")


async def test_follows_fills_orders_and_price_moves() -> None:
    async with paper() as p, runtime(p) as rt:
        await fresh(rt)
        await p.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
        await eventually_async(lambda: amount(rt) == D("2.1"))
        await p.order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.2",
            price="40000",
            timeInForce="GTC",
            newClientOrderId="rest1",
        )
        await eventually_async(
            lambda: any(
                o.client_order_id == "rest1" for o in rt.store.view("main").snapshot().open_orders
            )
        )
        await p.price("BTC", "55000")
        await eventually_async(
            lambda: rt.store.view("main").snapshot().mark_prices.get("BTCUSDT") == D(55000)
        )
        await eventually_async(
            lambda: rt.store.view("main").snapshot().index_prices.get("BTC") == D(55000)
        )
        await p.price("BTC", "39000")  # crosses the resting BUY at 40,000: it fills
        await eventually_async(lambda: amount(rt) == D("2.3"))
        await eventually_async(lambda: rt.store.view("main").snapshot().open_orders == ())
        await eventually_async(
            lambda: rt.store.view("main").snapshot().index_prices.get("BTC") == D(39000)
        )
        view = rt.store.view("main")
        exchange = D((await p.account())["uniMMR"])
        assert view.risk is not None
        assert abs(view.risk.uni_mmr(with_pending=False) / exchange - 1) < D("1e-8")


async def test_dropped_stream_is_stale_then_recovers_with_missed_fills() -> None:
    async with paper() as p, runtime(p, backoff_initial_s=0.5, backoff_max_s=0.6) as rt:
        await fresh(rt)
        sync = rt.syncs["main"]
        await p.control("streams/drop")
        await eventually_async(
            lambda: (rt.store.view("main").stale_reason or "").startswith("user stream down since")
        )
        await p.order(
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.5"
        )  # missed by the stream
        await fresh(rt)
        assert amount(rt) == D("1.5")  # the post-reconnect reconcile brought it
        assert sync.user.reconnects >= 1


async def test_listen_key_expiry_recreates_the_key() -> None:
    async with paper() as p, runtime(p) as rt:
        await fresh(rt)
        sync = rt.syncs["main"]
        await p.control("listen-key/expire")
        await eventually_async(lambda: sync.user.key_recreations >= 1)
        await fresh(rt)
        await p.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
        await eventually_async(lambda: amount(rt) == D("2.1"))


async def test_stale_prices_when_the_mark_stream_and_rest_fall_silent() -> None:
    async with paper() as p, runtime(p, max_price_age_ms=1500, asset_index_interval_s=60) as rt:
        await fresh(rt)
        # asset index polling is off (60 s): the index price ages past 1.5 s
        await eventually_async(
            lambda: "index price for" in (rt.store.view("main").stale_reason or ""), timeout=4
        )
