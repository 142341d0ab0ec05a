"""Killing the stream-owning replica: another replica takes the lease within the lease time
and the shared state is fresh again and following the exchange."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from margin_gate.clock import SystemClock
from margin_gate.state.config import StateConfig
from margin_gate.state.lease import Lease
from margin_gate.state.redis_store import RedisStore
from tests.integration.state.support import paper
from tests.support.servers import REPO
from tests.support.waiting import eventually_async

pytestmark = [pytest.mark.redis, pytest.mark.slow]
D = Decimal
LEASE_MS = 1500


def start_replica(
    redis_url: str, prefix: str, paper_url: str
) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.state.replica",
            redis_url,
            prefix,
            paper_url,
            str(LEASE_MS),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("REPLICA "), line
    return proc, line.split()[1]


async def test_killed_owner_is_replaced_within_the_lease_time(
    redis_url: str, redis_prefix: str
) -> None:
    cfg = StateConfig(
        backend="redis", redis_url=redis_url, key_prefix=redis_prefix, max_price_age_ms=3000
    )
    reader = RedisStore(cfg, SystemClock())  # a third replica that never owns: reads only
    await reader.start(["main"])
    lease = Lease(reader.client, reader.keys("main").lease, "reader", LEASE_MS)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with paper() as p:
            a, a_id = await asyncio.to_thread(start_replica, redis_url, redis_prefix, p.url)
            procs.append(a)
            await eventually_async(lambda: reader.view("main").stale_reason is None, timeout=10)
            assert await lease.holder() == a_id
            b, b_id = await asyncio.to_thread(start_replica, redis_url, redis_prefix, p.url)
            procs.append(b)
            await asyncio.sleep(0.6)
            assert await lease.holder() == a_id  # B waits while A renews

            a.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            a.wait()
            while await lease.holder() != b_id:
                assert time.monotonic() - killed < LEASE_MS / 1000 * 1.5 + 0.5, "no takeover"
                await asyncio.sleep(0.02)
            took_over = time.monotonic() - killed
            assert took_over <= LEASE_MS / 1000 + LEASE_MS / 3000 + 0.5, took_over

            await eventually_async(lambda: reader.view("main").stale_reason is None, timeout=10)
            await p.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")

            def amount() -> Decimal:
                snap = reader.view("main").snapshot()
                return sum((x.amount for x in snap.positions if x.symbol == "BTCUSDT"), D(0))

            await eventually_async(lambda: amount() == D("2.1"), timeout=5)
            print(f"takeover after SIGKILL: {took_over:.2f} s (lease {LEASE_MS} ms)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        await reader.aclose()
