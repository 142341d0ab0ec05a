"""The live-state layer's cost per order: memory vs Redis, concurrency 1 and 32, serialized vs
pipelined reservations, with a user stream running.

    .venv/bin/python bench/bench_reserve.py [--seconds 3] [--only memory,redis]
        [--flows release,stream] [--noise-per-s 50] [--upstream-ms 1] [--redis-url URL]
        [--event-batching auto|on|off] [--json out.json]

One account (10,000 USDT, long 2 BTCUSDT). Every order is what the gate does with the state
layer: `view()` → `parse_intent` + `project()` (margin engine) → `reserve()` at the viewed
versions, re-projecting on a conflict; then an upstream round trip (`--upstream-ms`, an
asyncio sleep) and `settle()`. Two flows:
- `release` (the stub upstream of run_all): the exchange refuses the order, `settle(rejected)`
  releases the reservation;
- `stream` (the paper exchange): the exchange accepts an IOC order that expires at once:
  `settle(accepted)`, then the user stream brings ORDER_TRADE_UPDATE NEW (converts the
  reservation into an open order) and EXPIRED (removes it), applied by the owner
  (`apply_events`) as the stream pump does: events that queue while a commit is in flight go
  into the next one (`--event-batching on`; `off`: one `apply_events` per event, as before).
Meanwhile `--noise-per-s` unrelated account updates (an ACCOUNT_UPDATE of the USDT wallet) are
applied, so the data version moves under the orders as on a live account.

Modes: `serialized` holds a per-account lock from `view()` to the reserve answer (the gate
before pipelining: one Redis round trip per order at a time); `pipelined` takes no lock (the
Redis store applies the reservation to the local mirror before it sends the script, so the
next order projects against it and predicts the next version). The memory store never awaits
between view and reserve, so the two are the same there (`-`).

Per row: orders/s; check+reserve p50/p99 (view → successful reserve, retries and lock wait
included); reserve p50 (the reserve() calls alone); conflicts per order; CPU µs per order of
this process (the gateway's share: views, projections, reserve/settle, the owner's event
application, the mirror's pub/sub) and of the private redis-server. CPU per order is the
figure to compare on a shared machine; rps and latencies move with the neighbours' load.
Without --redis-url a private redis-server is started on a free port (needs redis-server).

`--stages N`: instead, the memory store's order path driven synchronously (no event loop, no
upstream wait, no stream), N orders with 0 and with 32 reservations in flight (each order
reserves, then the oldest is released): median µs per stage — view + parse, direction
(`current_uni_mmr` + `is_risk_reducing`), project, reserve (`new_reservation` + `reserve`),
release (`settle(rejected)`) — and CPU per order. The steadiest figure on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
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
ACCOUNT = "bench"
ORDER = "/papi/v1/um/order"
PARAMS = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "IOC",
    "quantity": "0.002",
    "price": "49000",
}
LAX = {
    "max_price_age_ms": 3_600_000,
    "max_account_age_ms": 3_600_000,
    "reservation_ttl_ms": 600_000,
}
TICKS = os.sysconf("SC_CLK_TCK")


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
    await store.apply_snapshot(ACCOUNT, account_load(now))
    await store.set_health(ACCOUNT, Health(True, None, now + 3_600_000, now))


# -- the exchange's user stream --


def order_event(cid: str, order_id: int, status: str, t: int) -> dict[str, Any]:
    o = {
        "s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "f": "IOC", "q": "0.002",
        "p": "49000", "ap": "0", "sp": "0", "x": status, "X": status, "i": order_id, "l": "0",
        "z": "0", "L": "0", "T": t, "t": 0, "m": False, "R": False, "ps": "BOTH", "rp": "0",
    }  # fmt: skip
    return {"e": "ORDER_TRADE_UPDATE", "fs": "UM", "E": t, "T": t, "o": o}


def wallet_event(t: int) -> dict[str, Any]:
    a = {"m": "FUNDING_FEE", "B": [{"a": "USDT", "wb": "10000", "cw": "10000", "bc": "0"}]}
    return {"e": "ACCOUNT_UPDATE", "fs": "UM", "E": t, "T": t, "a": {**a, "P": []}}


@dataclass
class Stream:
    """The owner's user stream: a queue of events and the pump that applies them."""

    store: StateStore
    batching: bool
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    applied: int = 0
    calls: int = 0

    async def pump(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            groups = [batch] if self.batching else [[e] for e in batch]
            for group in groups:
                await self.store.apply_events(ACCOUNT, group)
                self.calls += 1
            self.applied += len(batch)

    async def drained(self) -> None:
        while not self.queue.empty():  # noqa: ASYNC110 (a benchmark's coarse wait)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)

    async def noise(self, per_s: float) -> None:
        if per_s <= 0:
            return
        while True:
            await asyncio.sleep(1 / per_s)
            self.queue.put_nowait(wallet_event(SystemClock().now_ms()))


# -- the order path --


@dataclass
class Row:
    backend: str
    flow: str
    mode: str
    concurrency: int
    full: list[int] = field(default_factory=list)
    bare: list[int] = field(default_factory=list)
    conflicts: int = 0
    orders: int = 0


class Bench:
    def __init__(self, store: StateStore, stream: Stream, upstream_s: float) -> None:
        self.store, self.stream, self.upstream_s = store, stream, upstream_s
        self.lock = asyncio.Lock()
        self.serial = iter(range(10**9))

    async def order(self, row: Row | None, flow: str, serialize: bool) -> None:
        n = next(self.serial)
        cid = f"o{n}"
        t0 = time.perf_counter_ns()  # waiting for the lock counts
        if serialize:
            async with self.lock:
                conflicts, reserve_ns = await self._check_reserve(cid)
        else:
            conflicts, reserve_ns = await self._check_reserve(cid)
        if row is not None:
            row.full.append(time.perf_counter_ns() - t0)
            row.bare.append(reserve_ns)
            row.conflicts += conflicts
        await asyncio.sleep(self.upstream_s)
        if flow == "release":
            await self.store.settle(ACCOUNT, cid, "rejected")
        else:
            await self.store.settle(ACCOUNT, cid, "accepted", order_id=str(n))
            now = SystemClock().now_ms()
            self.stream.queue.put_nowait(order_event(cid, n, "NEW", now))
            self.stream.queue.put_nowait(order_event(cid, n, "EXPIRED", now))
        if row is not None:
            row.orders += 1

    async def _check_reserve(self, cid: str) -> tuple[int, int]:
        reserve_ns = conflicts = 0
        while True:
            view = self.store.view(ACCOUNT)
            assert view.risk is not None, view.stale_reason
            instruments = view.risk.snapshot.instruments
            intent = parse_intent("POST", ORDER, {**PARAMS, "newClientOrderId": cid}, instruments)
            p = project(view.risk, intent)  # type: ignore[arg-type]
            r = self.store.new_reservation(ACCOUNT, cid, p.worst_case_legs, client_id=cid)
            t1 = time.perf_counter_ns()
            result = await self.store.reserve(ACCOUNT, view.versions, [r])
            reserve_ns += time.perf_counter_ns() - t1
            if result.ok:
                return conflicts, reserve_ns
            assert result.error is None, result.error
            conflicts += 1

    async def run(self, row: Row, seconds: float) -> dict[str, Any]:
        serialize = row.mode == "serialized"
        deadline = time.perf_counter() + 0.3
        await self._workers(None, row.flow, serialize, row.concurrency, deadline)  # warm-up
        await self.stream.drained()
        cpu0, redis0 = _cpu(), _redis_cpu()
        start = time.perf_counter()
        await self._workers(row, row.flow, serialize, row.concurrency, start + seconds)
        elapsed = time.perf_counter() - start
        await self.stream.drained()  # the stream's work for these orders counts
        cpu, redis1 = _cpu() - cpu0, _redis_cpu()
        redis_cpu = None if redis0 is None or redis1 is None else redis1 - redis0
        n = max(row.orders, 1)
        return {
            "backend": row.backend,
            "flow": row.flow,
            "mode": row.mode,
            "concurrency": row.concurrency,
            "orders": row.orders,
            "orders_per_s": round(row.orders / elapsed),
            "check_reserve_p50_us": _pct(row.full, 50),
            "check_reserve_p99_us": _pct(row.full, 99),
            "reserve_p50_us": _pct(row.bare, 50),
            "conflicts_per_order": round(row.conflicts / n, 3),
            "cpu_us_per_order": round(cpu * 1e6 / n, 1),
            "redis_cpu_us_per_order": None if redis_cpu is None else round(redis_cpu * 1e6 / n, 1),
        }

    async def _workers(
        self, row: Row | None, flow: str, serialize: bool, c: int, deadline: float
    ) -> None:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                await self.order(row, flow, serialize)

        await asyncio.gather(*(worker() for _ in range(c)))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


REDIS_PID: list[int] = []


def _redis_cpu() -> float | None:
    if not REDIS_PID:
        return None
    fields = Path(f"/proc/{REDIS_PID[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _pct(values: list[int], pct: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    if pct == 50:
        return round(statistics.median(ordered) / 1000, 1)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] / 1000, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server not found; pass --redis-url")
    port = _free_port()
    args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    proc = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    REDIS_PID[:] = [proc.pid]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        REDIS_PID.clear()
        proc.terminate()
        proc.wait(timeout=10)


def batching_default(choice: str) -> bool:
    if choice != "auto":
        return choice == "on"
    from margin_gate.state import userstream

    return bool(getattr(userstream, "BATCHES_EVENTS", False))


async def measure(
    backend: str, store: StateStore, args: argparse.Namespace, batching: bool
) -> list[dict[str, Any]]:
    stream = Stream(store, batching)
    tasks = [asyncio.ensure_future(stream.pump()), asyncio.ensure_future(stream.noise(args.noise))]
    bench = Bench(store, stream, args.upstream_ms / 1000)
    modes = [("-", 1), ("-", 32)]
    if backend == "redis":
        modes = [("serialized", 1), ("serialized", 32), ("pipelined", 32)]
    out = []
    try:
        for flow in args.flows.split(","):
            for mode, c in modes:
                row = Row(backend, flow, mode, c)
                result = await bench.run(row, args.seconds)
                result["events_applied"] = stream.applied
                result["apply_calls"] = stream.calls
                print(line(result), flush=True)
                out.append(result)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def _run(coro: Any) -> Any:
    """Drive a coroutine that never awaits (the memory store) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the memory store awaited")


STAGES = ("view+parse", "direction", "project", "reserve", "release")


def stages(orders: int, in_flight: int) -> dict[str, Any]:
    """The memory order path without an event loop: median µs per stage, CPU µs per order."""
    from collections import deque

    from margin_gate.margin import is_risk_reducing

    store = MemoryStore(StateConfig(**LAX), SystemClock())
    _run(seed(store))
    held: deque[str] = deque()
    times: list[list[int]] = [[] for _ in STAGES]
    clock = time.perf_counter_ns

    def one(n: int, record: bool) -> None:
        cid = f"o{n}"
        t0 = clock()
        view = store.view(ACCOUNT)
        assert view.risk is not None, view.stale_reason
        params = {**PARAMS, "newClientOrderId": cid}
        intent = parse_intent("POST", ORDER, params, view.risk.snapshot.instruments)
        assert not isinstance(intent, Exception)
        t1 = clock()
        view.risk.current_uni_mmr(False)
        is_risk_reducing(view.risk, intent)
        t2 = clock()
        p = project(view.risk, intent)
        t3 = clock()
        r = store.new_reservation(ACCOUNT, cid, p.worst_case_legs, client_id=cid)
        assert _run(store.reserve(ACCOUNT, view.versions, [r])).ok
        held.append(cid)
        t4 = clock()
        if len(held) > in_flight:
            _run(store.settle(ACCOUNT, held.popleft(), "rejected"))
        t5 = clock()
        if record:
            for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[i].append(d)

    for n in range(2000):
        one(n, False)
    cpu0 = time.process_time()
    for n in range(orders):
        one(10**7 + n, True)
    cpu = time.process_time() - cpu0
    medians = {name: round(statistics.median(times[i]) / 1000, 1) for i, name in enumerate(STAGES)}
    return {"in_flight": in_flight, "orders": orders, "stage_p50_us": medians,
            "cpu_us_per_order": round(cpu * 1e6 / orders, 1)}  # fmt: skip


async def main(args: argparse.Namespace) -> dict[str, Any]:
    batching = batching_default(args.event_batching)
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "args": vars(args),
        "event_batching": batching,
        "results": [],
    }
    clock = SystemClock()
    only = args.only.split(",")
    if "memory" in only:
        memory = MemoryStore(StateConfig(**LAX), clock)
        await seed(memory)
        results["results"] += await measure("memory", memory, args, batching)
    if "redis" in only:
        with contextlib.ExitStack() as stack:
            url = args.redis_url or stack.enter_context(private_redis())
            cfg = StateConfig(
                backend="redis", redis_url=url, key_prefix=f"bench{time.time_ns()}", **LAX
            )
            store = RedisStore(cfg, clock)
            await store.start([ACCOUNT])
            await seed(store)
            for _ in range(500):
                if store.view(ACCOUNT).stale_reason is None:
                    break
                await asyncio.sleep(0.01)
            try:
                results["results"] += await measure("redis", store, args, batching)
            finally:
                await store.aclose()
    return results


def line(row: dict[str, Any]) -> str:
    return (
        f"{row['backend']:6} {row['flow']:7} {row['mode']:10} c={row['concurrency']:<3}"
        f" check+reserve p50 {row['check_reserve_p50_us']!s:>8} µs"
        f" p99 {row['check_reserve_p99_us']!s:>9} µs | reserve p50 {row['reserve_p50_us']!s:>7} µs"
        f" | {row['orders_per_s']:>6} orders/s | conflicts/order {row['conflicts_per_order']:<6}"
        f" | CPU/order {row['cpu_us_per_order']:>6} µs"
        f" + redis {row['redis_cpu_us_per_order']!s:>5} µs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per row")
    parser.add_argument("--only", default="memory,redis")
    parser.add_argument("--flows", default="release,stream")
    parser.add_argument("--noise", "--noise-per-s", type=float, default=50.0, dest="noise")
    parser.add_argument("--upstream-ms", type=float, default=1.0)
    parser.add_argument("--event-batching", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--redis-url")
    parser.add_argument("--json", help="write results to this file ('-' for stdout)")
    parser.add_argument("--stages", type=int, metavar="N", help="see the module docstring")
    ns = parser.parse_args()
    if ns.stages:
        out: dict[str, Any] = {"stages": [stages(ns.stages, k) for k in (0, 32)]}
        for row in out["stages"]:
            parts = " ".join(f"{k} {v}" for k, v in row["stage_p50_us"].items())
            print(f"memory in-process, {row['in_flight']:>2} in flight: p50 µs {parts}"
                  f" | CPU/order {row['cpu_us_per_order']} µs")  # fmt: skip
    else:
        out = asyncio.run(main(ns))
    if ns.json == "-":
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    elif ns.json:
        Path(ns.json).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
