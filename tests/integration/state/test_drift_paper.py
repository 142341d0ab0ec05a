"""Model drift on the paper exchange: the margin engine's uniMMR vs the exchange's own,
after every step of a random (seeded) session of fills and price moves."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from margin_gate.state.rest import ExchangeError
from tests.integration.state.support import paper
from tests.integration.state.support import runtime
from tests.support.waiting import eventually_async

D = Decimal
TOLERANCE = D("1e-7")  # the exchange prints uniMMR with 8 decimals


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_drift_is_zero_across_a_random_session(seed: int) -> None:
    rng = random.Random(seed)
    async with paper() as p, runtime(p) as rt:
        await eventually_async(lambda: rt.store.view("main").stale_reason is None)
        sync = rt.syncs["main"]
        btc = D(50000)
        drifts = []
        refused = 0
        statuses: list[int] = []
        for step in range(12):
            action = rng.choice(["um", "um", "cm", "margin", "price", "price"])
            try:
                if action == "um":
                    qty = rng.choice(["0.05", "0.1", "0.3"])
                    await p.order(
                        symbol="BTCUSDT",
                        side=rng.choice(["BUY", "SELL"]),
                        type="MARKET",
                        quantity=qty,
                    )
                elif action == "cm":
                    qty = str(rng.randint(1, 20))
                    await p.order(
                        "/papi/v1/cm/order",
                        symbol="BTCUSD_PERP",
                        side=rng.choice(["BUY", "SELL"]),
                        type="MARKET",
                        quantity=qty,
                    )
                elif action == "margin":
                    await p.order(
                        "/papi/v1/margin/order",
                        symbol="BTCUSDT",
                        side="BUY",
                        type="MARKET",
                        quantity="0.001",
                    )
                else:
                    btc = (btc * D(rng.uniform(0.96, 1.04))).quantize(D("0.1"))
                    await p.price("BTC", str(btc))
            except ExchangeError as exc:  # e.g. the exchange's own reduce-only band: fine
                refused += 1
                statuses.append(exc.status)
            await sync.reconcile()
            view = rt.store.view("main")
            assert view.drift is not None, (step, action, view.degraded_reason)
            drifts.append(view.drift)
            assert abs(view.drift) <= TOLERANCE, (
                step,
                action,
                sync.last_gateway_uni_mmr,
                sync.last_exchange_uni_mmr,
            )
        assert len(drifts) == 12
        assert refused <= 3, refused  # the session really traded
        assert set(statuses) <= {400}
