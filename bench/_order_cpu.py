"""The gateway's own CPU per order, in-process: no HTTP server, no load generator, no network on
the order's path — the ASGI app called directly, its upstream a stub object.

    .venv/bin/python bench/_order_cpu.py [--orders 20000] [--concurrency 1] [--pass-through]
        [--profile out.prof] [--accept] [--redis-url redis://127.0.0.1:6379/0]

What runs per order is everything of margin-gate's own between uvicorn handing over the request
and the answer going back: routing, authentication (HMAC, replay guard), parameter parsing,
the RiskGate (projection, policy, reservation in the memory store, the audit decision record),
client-id injection and re-signing, the stub upstream's answer, settle, the audit outcome
record, the request observers (audit, metrics, request log line) and the response headers.
The account's live state is real: a `margin-gate paper` subprocess (the bench paper state)
feeds the gateway's state runtime over REST and WebSocket, as in production.

The stub answers every order `400 {"code":-2010}` (as bench/_upstream.py's nginx stub does),
so each reservation is released at settle; `--accept` answers `200` with an order ack instead
(reservations then wait for a stream confirmation that never comes: pending legs accumulate).

CPU is `time.process_time()` of this process across the measured loop (the paper exchange is
another process), divided by the number of orders: µs per order. Results vary ±10 % between
runs on a shared machine; compare before/after in the same minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import hmac
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvloop

from _fixtures import BOT_SECRET
from _fixtures import ORDER_HEAD
from _fixtures import ORDER_PATH
from _fixtures import REPO
from _fixtures import bench_paper_state
from _fixtures import bot_key
from _fixtures import gateway_config
from _proc import free_port
from margin_gate.app import create_app
from margin_gate.proxy.upstream import UpstreamResponse
from margin_gate.settings import parse_settings

_REFUSED = b'{"code":-2010,"msg":"Account has insufficient balance for requested action."}'
_ACK = (
    b'{"orderId":1,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"x","price":"62000",'
    b'"avgPrice":"0.00","origQty":"0.002","executedQty":"0","cumQty":"0","cumQuote":"0",'
    b'"timeInForce":"IOC","type":"LIMIT","reduceOnly":false,"closePosition":false,'
    b'"side":"BUY","positionSide":"BOTH","stopPrice":"0","workingType":"CONTRACT_PRICE",'
    b'"priceProtect":false,"origType":"LIMIT","updateTime":1}'
)
_HEADERS = [(b"content-type", b"application/json"), (b"x-mbx-used-weight-1m", b"1")]


class StubUpstream:
    """An `Upstream` answering every request at once (no I/O)."""

    def __init__(self, accept: bool) -> None:
        self.status, self.body = (200, _ACK) if accept else (400, _REFUSED)
        self.sent = 0

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> UpstreamResponse:
        self.sent += 1
        return UpstreamResponse(self.status, self.body, list(_HEADERS))

    async def aclose(self) -> None:
        return None


def _orders(n: int, tag: str) -> list[bytes]:
    ts = int(time.time() * 1000)
    out = []
    for i in range(n):
        payload = f"{ORDER_HEAD}&newClientOrderId={tag}-{i:07d}&recvWindow=60000&timestamp={ts}"
        sig = hmac.new(BOT_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
        out.append(f"{payload}&signature={sig}".encode())
    return out


def _scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": ORDER_PATH,
        "raw_path": ORDER_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"x-mbx-apikey", bot_key(0).encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def _one(app: Any, body: bytes, statuses: dict[str, int]) -> None:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            h = dict(message["headers"])
            decision = h.get(b"x-margin-gate-decision", b"-").decode()
            decision += " " + h.get(b"x-margin-gate-rule", b"-").decode()
            key = f"{message['status']} {decision}"
            statuses[key] = statuses.get(key, 0) + 1

    await app(_scope(body), receive, send)


async def _drive(app: Any, orders: list[bytes], concurrency: int) -> dict[str, int]:
    statuses: dict[str, int] = {}
    if concurrency <= 1:
        for body in orders:
            await _one(app, body, statuses)
            await asyncio.sleep(0)  # let the state runtime's tasks run, as real I/O would
        return statuses
    it = iter(orders)

    async def worker() -> None:
        for body in it:
            await _one(app, body, statuses)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def start_paper(workdir: Path) -> tuple[subprocess.Popen[bytes], int, dict[str, Any]]:
    """A `margin-gate paper` subprocess on the bench state: (process, port, paper keys)."""
    keys = bench_paper_state(workdir / "paper.json")
    paper_port = free_port()
    paper = subprocess.Popen(
        [sys.executable, "-m", "margin_gate", "paper", "--state", str(workdir / "paper.json"),
         "--port", str(paper_port), "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return paper, paper_port, keys


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    paper, paper_port, keys = start_paper(workdir)
    try:
        await _wait_port(paper_port)
        key = keys["main"] if "main" in keys else next(iter(keys.values()))
        config, env = gateway_config(
            port=0,
            upstream_url=f"http://127.0.0.1:{paper_port}",
            workdir=workdir,
            enforce=not args.pass_through,
            account_key=(key["api_key"], key["secret"]),
            **_redis_store(args),
        )
        config["server"]["request_log"] = not args.no_request_log
        settings = parse_settings(config, base_dir=workdir, env=env)
        upstream = StubUpstream(args.accept)
        app = create_app(settings, upstream=upstream)
        async with app.lifespan():
            request_log = getattr(getattr(app, "ops", None), "request_log", None)
            if request_log is not None:
                request_log.start()  # buffered, as under `margin-gate serve`
            await _drive(app, _orders(args.warmup, "warm"), args.concurrency)
            orders = _orders(args.orders, "run")
            profiler = cProfile.Profile() if args.profile else None
            cpu0, wall0 = time.process_time(), time.perf_counter()
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            if profiler is not None:
                profiler.enable()
            statuses = await _drive(app, orders, args.concurrency)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            if request_log is not None:
                request_log.close()
    finally:
        paper.terminate()
        paper.wait(timeout=10)
    n = len(orders)
    return {
        "orders": n,
        "concurrency": args.concurrency,
        "path": "pass-through" if args.pass_through else "order path",
        "store": "redis" if args.redis_url else "memory",
        "cpu_us_per_order": round(cpu / n * 1e6, 1),
        "wall_us_per_order": round(wall / n * 1e6, 1),
        "user_us": round((ru1.ru_utime - ru0.ru_utime) / n * 1e6, 1),
        "sys_us": round((ru1.ru_stime - ru0.ru_stime) / n * 1e6, 1),
        "statuses": statuses,
    }


def _redis_store(args: argparse.Namespace) -> dict[str, Any]:
    """`--redis-url`: the Redis store (and replay guard) on a fresh key prefix."""
    if not args.redis_url:
        return {}
    return {"store": "redis", "redis_url": args.redis_url, "key_prefix": f"mgcpu{os.getpid()}"}


async def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"paper exchange not listening on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--pass-through", action="store_true", help="[policy] enforce = false")
    parser.add_argument("--accept", action="store_true", help="the stub answers 200 (an ack)")
    parser.add_argument("--no-request-log", action="store_true")
    parser.add_argument("--redis-url", help="the Redis store at this URL (default: memory)")
    parser.add_argument("--profile", help="write cProfile stats of the measured loop here")
    args = parser.parse_args()
    os.environ.setdefault("MG_BENCH_QUIET", "1")
    with tempfile.TemporaryDirectory(prefix="mg-order-cpu-") as tmp:
        result = uvloop.run(run(args, Path(tmp)))  # as under `margin-gate serve`
    print(result)


if __name__ == "__main__":
    main()
