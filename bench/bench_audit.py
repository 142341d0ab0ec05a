"""Audit log benchmark: the latency `AuditLog.write` adds to the order path, and the records per
second the writer sustains, with the JSONL file alone and with the Redis stream as well.

    .venv/bin/python bench/bench_audit.py [--json out.json] [--redis-url redis://...] [-n N]

Without --redis-url a private redis-server (no persistence) is started on a free port.
The fsync interval is the default group commit period (50 ms) unless --fsync-ms is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import redis
from redis.asyncio import Redis

from margin_gate.audit import AuditConfig
from margin_gate.audit import AuditLog

PARAMS = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.010",
    "price": "60000.0",
    "newClientOrderId": "bot1-7f3a9c",
    "recvWindow": "5000",
    "timestamp": "1700000000000",
    "signature": "5f2b8c0d9e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
}


def decision(i: int) -> dict[str, Any]:
    return {
        "kind": "decision",
        "request_id": f"01HF{i:012d}",
        "bot": "bot1",
        "account": "acct1",
        "method": "POST",
        "endpoint": "/papi/v1/um/order",
        "params": PARAMS,
        "decision": "accept",
        "rule": None,
        "code": None,
        "msg": None,
        "unimmr_before": "1.8421",
        "unimmr_after": "1.7993",
        "buffer": "0.2993",
        "state_age_ms": 120,
        "in_flight": 2,
    }


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * q))] / 1000


def summary(ns: list[int]) -> dict[str, float]:
    ns.sort()
    return {
        "p50_us": round(pct(ns, 0.50), 2),
        "p90_us": round(pct(ns, 0.90), 2),
        "p99_us": round(pct(ns, 0.99), 2),
        "p999_us": round(pct(ns, 0.999), 2),
        "max_us": round(ns[-1] / 1000, 1),
    }


async def latency(config: AuditConfig, client: Redis | None, n: int) -> dict[str, Any]:
    """write() timed alone; an await between writes, as between two requests' decisions."""
    log = AuditLog(config, redis=client)
    await log.start()
    for i in range(2000):  # warm-up
        log.write(decision(i))  # type: ignore[arg-type]
        await asyncio.sleep(0)
    ns: list[int] = []
    clock = time.perf_counter_ns
    for i in range(n):
        rec = decision(i)
        t0 = clock()
        log.write(rec)  # type: ignore[arg-type]
        ns.append(clock() - t0)
        await asyncio.sleep(0)
    await log.close()
    return {**summary(ns), "records": n, "fsyncs": log.fsyncs, "spilled": log.spilled}


async def throughput(config: AuditConfig, client: Redis | None, n: int) -> dict[str, Any]:
    """Records/s: build + write as fast as possible (yielding every 100), until every record
    is durable in its sinks (file: closed and fsynced; stream: all XADDs acknowledged)."""
    log = AuditLog(config, redis=client)
    await log.start()
    t0 = time.perf_counter()
    for i in range(n):
        log.write(decision(i))  # type: ignore[arg-type]
        if i % 100 == 0:
            await asyncio.sleep(0)
    written = time.perf_counter() - t0
    await log.close(timeout=120)  # delivers the stream queue, then the final fsync
    total = time.perf_counter() - t0
    if client is not None:
        assert log.streamed == log.written, (log.streamed, log.written)
    return {
        "records": n,
        "written_per_s": round(n / written),
        "sustained_per_s": round(n / total),
        "seconds": round(total, 3),
        "fsyncs": log.fsyncs,
        "spilled": log.spilled,
        "max_queue": config.queue_max,
    }


async def paced_cpu(
    config: AuditConfig, client: Redis | None, rate: int, seconds: float
) -> dict[str, Any]:
    """Process CPU per record at a steady `rate` (10 records per tick), drain task included:
    what the audit log costs the gateway's core at that load."""
    log = AuditLog(config, redis=client)
    await log.start()
    t0, c0 = time.perf_counter(), time.process_time()
    n = int(rate * seconds)
    for i in range(0, n, 10):
        for j in range(i, i + 10):
            log.write(decision(j))  # type: ignore[arg-type]
        await asyncio.sleep(max(0.0, t0 + (i + 10) / rate - time.perf_counter()))
    await log.close()  # delivers what the stream still holds
    cpu = time.process_time() - c0
    return {"rate_per_s": rate, "records": n, "cpu_per_record_us": round(cpu / n * 1e6, 1)}


def private_redis() -> tuple[str, subprocess.Popen[bytes]]:
    if shutil.which("redis-server") is None:
        sys.exit("no redis-server on PATH: pass --redis-url")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            if redis.Redis.from_url(url).ping():
                return url, proc
        except redis.RedisError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("private redis-server did not start")


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    client = Redis.from_url(url)
    stream = f"bench-audit-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        base = Path(tmp)

        def cfg(name: str, *, with_stream: bool, **kw: Any) -> AuditConfig:
            settings: dict[str, Any] = {
                "replica": "bench",
                "dir": base / name,
                "fsync_interval_ms": args.fsync_ms,
                "queue_max": 1_000_000,
                **kw,
            }
            if with_stream:
                settings |= {"stream": f"{stream}-{name}", "stream_maxlen": None}
            return AuditConfig(**settings)

        results["write_latency_file"] = await latency(cfg("lf", with_stream=False), None, args.n)
        results["write_latency_file_stream"] = await latency(
            cfg("lfs", with_stream=True), client, args.n
        )
        results["write_latency_fsync_each_write"] = await latency(
            cfg("lfe", with_stream=False, fsync_interval_ms=0), None, min(args.n, 2000)
        )
        for rate in (1000, 5000):
            results[f"cpu_file_{rate}"] = await paced_cpu(
                cfg(f"cf{rate}", with_stream=False), None, rate, args.paced_s
            )
            results[f"cpu_file_stream_{rate}"] = await paced_cpu(
                cfg(f"cfs{rate}", with_stream=True), client, rate, args.paced_s
            )
        results["throughput_file"] = await throughput(cfg("tf", with_stream=False), None, args.n_tp)
        results["throughput_file_stream"] = await throughput(
            cfg("tfs", with_stream=True), client, args.n_tp
        )
        keys = [k async for k in client.scan_iter(match=f"{stream}*")]
        if keys:
            await client.delete(*keys)
    await client.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--redis-url", help="an existing Redis (default: a private one)")
    parser.add_argument("-n", type=int, default=50_000, help="writes per latency run")
    parser.add_argument("--n-tp", type=int, default=200_000, help="records per throughput run")
    parser.add_argument("--paced-s", type=float, default=2.0, help="seconds per paced CPU run")
    parser.add_argument("--fsync-ms", type=int, default=50, help="group commit interval (ms)")
    args = parser.parse_args()

    proc = None
    url = args.redis_url
    if url is None:
        url, proc = private_redis()
    try:
        results = asyncio.run(run(args, url))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    version = redis.Redis.from_url(url).info("server")["redis_version"] if proc is None else ""
    results["env"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "orjson": orjson.__version__,
        "redis_py": redis.__version__,
        "redis_server": version
        or subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        .stdout.split()[2]
        .removeprefix("v="),
        "fsync_interval_ms": args.fsync_ms,
        "record_bytes": len(orjson.dumps(decision(0))) + 200,
    }
    print(f"audit benchmark (fsync interval {args.fsync_ms} ms; {results['env']})")
    print(f"{'write() added latency':34} {'p50':>8} {'p90':>8} {'p99':>8} {'p99.9':>8} {'max':>9}")
    for key, label in (
        ("write_latency_file", "file (group commit)"),
        ("write_latency_file_stream", "file + Redis stream"),
        ("write_latency_fsync_each_write", "file, fsync in every write"),
    ):
        r = results[key]
        print(
            f"  {label:32} {r['p50_us']:>7}µs {r['p90_us']:>7}µs {r['p99_us']:>7}µs "
            f"{r['p999_us']:>7}µs {r['max_us']:>8}µs"
        )
    print(f"{'records per second':34} {'writing':>10} {'sustained':>10}")
    for key, label in (("throughput_file", "file"), ("throughput_file_stream", "file + stream")):
        r = results[key]
        print(f"  {label:32} {r['written_per_s']:>10,} {r['sustained_per_s']:>10,}")
    print(f"{'CPU per record at a steady rate':34} {'file':>10} {'+ stream':>10}")
    for rate in (1000, 5000):
        f = results[f"cpu_file_{rate}"]["cpu_per_record_us"]
        fs = results[f"cpu_file_stream_{rate}"]["cpu_per_record_us"]
        print(f"  {rate:>6,} records/s{'':16} {f:>8}µs {fs:>8}µs")
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
