"""Check-and-reserve cost per order, memory and Redis backends, at concurrency 1 and 32.

    .venv/bin/python bench/bench_reserve.py [--orders 4000] [--redis-url URL] [--json out.json]

One account (10,000 USDT, long 2 BTCUSDT), orders are MARKET BUY 0.001 BTCUSDT. Each order is
what the gate does: `view()` → `project()` (margin engine) → `reserve()` at the viewed
versions, retrying on conflict; then the reservation is released (as a reject would), so the
in-flight set stays small and every order contends on the same account. Two timings per order:
- check+reserve: from view() to a successful reserve (retries included) — the order-path cost;
- reserve: the reserve() call(s) alone (Redis: the EVALSHA round trip(s)).
`concurrency` = that many asyncio tasks in one process firing back to back at one account,
"serialized" through `store.ordering(account)` as the gate does (time waiting for the lock
counts), and once "optimistic" (no lock: every task races the others' round trips).
Without --redis-url a private redis-server is started on a free port (needs redis-server).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import socket
import statistics
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from margin_gate.clock import SystemClock
from margin_gate.margin import Balance
from margin_gate.margin import Bracket
from margin_gate.margin import Instrument
from margin_gate.margin import Position
from margin_gate.margin import parse_intent
from margin_gate.margin import project
from margin_gate.state.codec import PositionRow
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import Health
from margin_gate.state.data import LoadedAccount
from margin_gate.state.data import Static
from margin_gate.state.memory import MemoryStore
from margin_gate.state.redis_store import RedisStore
from margin_gate.state.store import StateStore

D = Decimal
ORDER = "/papi/v1/um/order"
PARAMS = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
LAX = {"max_price_age_ms": 3_600_000, "max_account_age_ms": 3_600_000}


def account_load(now: int) -> LoadedAccount:
    """10,000 USDT in the UM wallet, long 2 BTCUSDT at 50,000, mark 50,000."""
    btc = Instrument("BTCUSDT", "UM", "BTC", "USDT", "USDT", step_size=D("0.001"))
    brackets = (
        Bracket(D(0), D(50000), D("0.004"), D(0)),
        Bracket(D(50000), D(250000), D("0.005"), D(50)),
        Bracket(D(250000), D(10**9), D("0.01"), D(1300)),
    )
    static = Static(
        instruments={btc.key: btc},
        brackets={"BTCUSDT": brackets},
        collateral_rates={"USDT": D(1), "BTC": D("0.95")},
    )
    position = Position("BTCUSDT", "UM", "BOTH", D(2), D(50000))
    return LoadedAccount(
        static=static,
        balances={"USDT": Balance("USDT", um_wallet=D(10000))},
        balance_times={"USDT": now},
        positions=(PositionRow(position, now, D(50000)),),
        open_orders=(),
        account=None,
        marks={"BTCUSDT": PriceTick(D(50000), now)},
        asset_index={"USDT": PriceTick(D(1), now), "BTC": PriceTick(D(50000), now)},
        fetch_started_ms=now,
        fetch_done_ms=now,
    )


async def seed(store: StateStore) -> None:
    now = SystemClock().now_ms()
    await store.apply_snapshot("bench", account_load(now))
    await store.set_health("bench", Health(True, None, now + 3_600_000, now))


async def one_order(
    store: StateStore, n: int, full: list[int], bare: list[int], serialize: bool = True
) -> int:
    t0 = time.perf_counter_ns()  # waiting for the ordering lock counts
    if serialize:
        async with store.ordering("bench"):
            return await _check_reserve(store, n, full, bare, t0)
    return await _check_reserve(store, n, full, bare, t0)


async def _check_reserve(
    store: StateStore, n: int, full: list[int], bare: list[int], t0: int
) -> int:
    cid = f"o{n}"
    reserve_ns = 0
    conflicts = 0
    while True:
        view = store.view("bench")
        assert view.risk is not None, view.stale_reason
        intent = parse_intent(
            "POST", ORDER, {**PARAMS, "newClientOrderId": cid}, view.risk.snapshot.instruments
        )
        p = project(view.risk, intent)  # type: ignore[arg-type]
        r = store.new_reservation("bench", cid, p.worst_case_legs, client_id=cid)
        t1 = time.perf_counter_ns()
        result = await store.reserve("bench", view.versions, [r])
        reserve_ns += time.perf_counter_ns() - t1
        if result.ok:
            break
        conflicts += 1
    full.append(time.perf_counter_ns() - t0)
    bare.append(reserve_ns)
    await store.settle("bench", cid, "rejected")
    return conflicts


async def run(
    store: StateStore, orders: int, concurrency: int, serialize: bool = True
) -> dict[str, Any]:
    full: list[int] = []
    bare: list[int] = []
    counter = iter(range(orders + 1000))
    for _ in range(200):  # warm-up
        await one_order(store, next(counter), [], [])
    conflicts = 0

    async def worker(count: int) -> None:
        nonlocal conflicts
        for _ in range(count):
            conflicts += await one_order(store, next(counter) + 1000, full, bare, serialize)

    per = orders // concurrency
    start = time.perf_counter()
    await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {
        "mode": "serialized" if serialize else "optimistic",
        "concurrency": concurrency,
        "orders": per * concurrency,
        "orders_per_s": round(per * concurrency / elapsed),
        "check_reserve_p50_us": _pct(full, 50),
        "check_reserve_p99_us": _pct(full, 99),
        "reserve_p50_us": _pct(bare, 50),
        "reserve_p99_us": _pct(bare, 99),
        "conflicts_per_order": round(conflicts / (per * concurrency), 3),
    }


def _pct(values: list[int], pct: int) -> float:
    ordered = sorted(values)
    if pct == 50:
        return round(statistics.median(ordered) / 1000, 1)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] / 1000, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_redis() -> tuple[str, subprocess.Popen[bytes]]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found; pass --redis-url")
    port = _free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", proc


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "results": [],
    }
    clock = SystemClock()
    memory = MemoryStore(StateConfig(**LAX), clock)
    await seed(memory)
    for c in (1, 32):
        results["results"].append({"backend": "memory", **await run(memory, args.orders, c)})
    proc = None
    url = args.redis_url
    if url is None:
        url, proc = _start_redis()
    try:
        cfg = StateConfig(
            backend="redis", redis_url=url, key_prefix=f"bench{time.time_ns()}", **LAX
        )
        store = RedisStore(cfg, clock)
        await store.start(["bench"])
        await seed(store)
        for _ in range(500):
            if store.view("bench").stale_reason is None:
                break
            await asyncio.sleep(0.01)
        for c in (1, 32):
            results["results"].append({"backend": "redis", **await run(store, args.orders, c)})
        results["results"].append(
            {"backend": "redis", **await run(store, args.orders, 32, serialize=False)}
        )
        await store.aclose()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--redis-url")
    parser.add_argument("--json", help="write results to this file ('-' for stdout)")
    ns = parser.parse_args()
    out = asyncio.run(main(ns))
    for row in out["results"]:
        print(
            f"{row['backend']:6} {row['mode']:10} c={row['concurrency']:<3} check+reserve"
            f" p50 {row['check_reserve_p50_us']:>8} µs p99 {row['check_reserve_p99_us']:>9} µs"
            f" | reserve p50 {row['reserve_p50_us']:>8} µs"
            f" p99 {row['reserve_p99_us']:>9} µs | {row['orders_per_s']:>6} orders/s"
            f" | conflicts/order {row['conflicts_per_order']}"
        )
    if ns.json == "-":
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    elif ns.json:
        Path(ns.json).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
