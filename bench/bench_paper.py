"""Paper exchange CPU per MARKET order (issue 3: "well under a millisecond of its own CPU").

    .venv/bin/python bench/bench_paper.py [--orders 1000]

Runs `margin-gate paper` on the shipped `config/paper-state.json` in a subprocess and reads its
CPU (user + system, from /proc/<pid>/stat) around N sequential MARKET orders sent with aiohttp
over keep-alive by the `bot-direct` paper key. A benchmark, not a test: timing targets never
live in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import orjson

from margin_gate.auth.signing import hmac_sha256_hex

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / "config" / "paper-state.json"
BUDGET_US = 1000


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _orders(port: int, count: int, api_key: str, secret: bytes) -> None:
    url = f"http://127.0.0.1:{port}/papi/v1/um/order"
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            query = urlencode(
                {"symbol": "BTCUSDT", "side": "BUY" if i % 2 else "SELL", "type": "MARKET"}
                | {"quantity": "0.002", "timestamp": str(time.time_ns() // 1_000_000)}
            )
            signature = hmac_sha256_hex(secret, query.encode())
            async with session.post(
                f"{url}?{query}&signature={signature}", headers={"X-MBX-APIKEY": api_key}
            ) as response:
                if response.status != 200:
                    raise SystemExit(f"order failed: {response.status} {await response.read()!r}")
                await response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description="Paper exchange CPU per MARKET order")
    parser.add_argument("--orders", type=int, default=1000)
    count = parser.parse_args().orders
    key = next(k for k in orjson.loads(STATE.read_bytes())["keys"] if k["name"] == "bot-direct")
    port = _free_port()
    args = ["paper", "--state", str(STATE), "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen([sys.executable, "-m", "margin_gate", *args], cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("paper exchange did not start") from None
                time.sleep(0.05)
        run = asyncio.run
        run(_orders(port, 200, key["api_key"], key["secret"].encode()))  # warm-up
        before = _cpu_seconds(proc.pid)
        run(_orders(port, count, key["api_key"], key["secret"].encode()))
        spent = _cpu_seconds(proc.pid) - before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    per_order_us = spent / count * 1e6
    verdict = "ok" if per_order_us < BUDGET_US else "OVER BUDGET"
    print(f"paper exchange: {per_order_us:.0f} µs server CPU per MARKET order ({verdict})")


if __name__ == "__main__":
    main()
