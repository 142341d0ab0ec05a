"""The race test: two OS processes share one Redis; concurrent orders that each pass alone
but together would take uniMMR below the floor. The number accepted never exceeds what fits,
across seeded rounds, bounded in time."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import orjson
import pytest
import redis

from margin_gate.clock import SystemClock
from margin_gate.margin import parse_intent
from margin_gate.margin import project
from margin_gate.state.config import StateConfig
from margin_gate.state.data import Health
from margin_gate.state.memory import MemoryStore
from margin_gate.state.redis_store import RedisStore
from tests.integration.state.gatelike import ORDER
from tests.integration.state.gatelike import race_load
from tests.support.servers import REPO

pytestmark = [pytest.mark.redis, pytest.mark.slow]
D = Decimal
ROUNDS = 12
WORKERS = ("1", "2")


async def sequential_unimmrs(qty: str, n: int) -> list[Decimal]:
    """uniMMR after the k-th order when orders are checked one by one (k = 1..n): the oracle."""
    store = MemoryStore(
        StateConfig(max_price_age_ms=600_000, max_account_age_ms=600_000), SystemClock()
    )
    now = SystemClock().now_ms()
    await store.apply_snapshot("a", race_load(now))
    await store.set_health("a", Health(True, None, now, now))
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": qty}
    after = []
    for i in range(n):
        view = store.view("a")
        assert view.risk is not None
        intent = parse_intent(
            "POST", ORDER, {**params, "newClientOrderId": f"o{i}"}, view.risk.snapshot.instruments
        )
        p = project(view.risk, intent)  # type: ignore[arg-type]
        after.append(p.unimmr_after)
        result = await store.reserve(
            "a",
            view.versions,
            [store.new_reservation("a", f"o{i}", p.worst_case_legs, client_id=f"o{i}")],
        )
        assert result.ok
    return after


@pytest.fixture
def workers(redis_url: str, redis_prefix: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.state.race_worker",
                redis_url,
                redis_prefix,
                w,
            ],
            cwd=REPO,
        )
        for w in WORKERS
    ]
    try:
        yield procs
    finally:
        client = redis.Redis.from_url(redis_url)
        for w in WORKERS:
            client.rpush(f"race:{redis_prefix}:jobs:{w}", orjson.dumps({"stop": True}))
        client.close()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_two_processes_never_accept_more_than_fits(
    redis_url: str, redis_prefix: str, workers: list[subprocess.Popen[bytes]]
) -> None:
    cfg = StateConfig(
        backend="redis",
        redis_url=redis_url,
        key_prefix=redis_prefix,
        max_price_age_ms=600_000,
        max_account_age_ms=600_000,
    )
    owner = RedisStore(cfg, SystemClock())
    sync_client = redis.Redis.from_url(redis_url, socket_timeout=None)  # BLPOP up to 30 s
    began = time.monotonic()
    summary = []
    try:
        for seed in range(ROUNDS):
            rng = random.Random(seed)
            bots = rng.randint(4, 10)  # per worker
            qty = rng.choice(["0.5", "1", "1.5", "2"])
            curve = await sequential_unimmrs(qty, 2 * bots)
            fits = rng.randint(1, 2 * bots - 1)
            floor = (curve[fits - 1] + curve[fits]) / 2  # exactly `fits` orders fit, one by one
            account = f"race{seed}"
            now = SystemClock().now_ms()
            await owner.start([account])
            await owner.apply_snapshot(account, race_load(now))
            await owner.set_health(account, Health(True, None, now + 600_000, now))
            start_at = SystemClock().now_ms() + 400
            for w in WORKERS:
                job = {
                    "account": account,
                    "qty": qty,
                    "floor": str(floor),
                    "bots": bots,
                    "start_at": start_at,
                }
                sync_client.rpush(f"race:{redis_prefix}:jobs:{w}", orjson.dumps(job))
            results = []
            for _ in WORKERS:
                popped = sync_client.blpop([f"race:{redis_prefix}:results"], timeout=30)
                assert popped is not None, "a worker did not answer in 30 s"
                results.append(orjson.loads(popped[1]))
            verdicts = [v for r in results for v in r.get("verdicts", [r.get("error")])]
            accepted = verdicts.count("accepted")
            in_flight = sync_client.hlen(owner.keys(account).inflight)
            summary.append(
                (seed, 2 * bots, fits, accepted, sum(r.get("conflicts", 0) for r in results))
            )
            assert set(verdicts) <= {"accepted", "rejected"}, verdicts
            assert accepted <= fits, summary[-1]
            assert in_flight == accepted
            assert accepted == fits, summary[-1]  # retries on conflict find every slot
        assert time.monotonic() - began < 60
        print("race rounds (seed, orders, fit, accepted, conflicts):", summary)
    finally:
        sync_client.close()
        await owner.aclose()
