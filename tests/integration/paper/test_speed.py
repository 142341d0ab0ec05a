"""The paper exchange must stay cheap enough to be a benchmark upstream (issue 3): a MARKET order
round trip costs well under a millisecond of the server's own CPU.

The server runs as `margin-gate paper` in a subprocess; its CPU (user + system, from
/proc/<pid>/stat) is read around N sequential MARKET orders sent with aiohttp over keep-alive.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest

from margin_gate.auth.signing import hmac_sha256_hex
from margin_gate.paper import PaperExchange
from margin_gate.paper import export_state
from tests.support.servers import free_port
from tests.support.servers import run_cli
from tests.unit.paper import states

ORDERS = 1000
BUDGET_US = 1000  # "well under 1 ms"; measured ≈ 210 µs on the project's 2-vCPU machine kind


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _orders(port: int, count: int) -> None:
    url = f"http://127.0.0.1:{port}/papi/v1/um/order"
    secret = states.SECRET.encode()
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            query = urlencode(
                {"symbol": "BTCUSDT", "side": "BUY" if i % 2 else "SELL", "type": "MARKET"}
                | {"quantity": "0.001", "timestamp": str(time.time_ns() // 1_000_000)}
            )
            signature = hmac_sha256_hex(secret, query.encode())
            async with session.post(
                f"{url}?{query}&signature={signature}", headers={"X-MBX-APIKEY": states.API_KEY}
            ) as response:
                assert response.status == 200
                await response.read()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_market_order_costs_well_under_a_millisecond_of_server_cpu(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    exchange = PaperExchange(states.build(states.simple()))
    state.write_bytes(orjson.dumps(export_state(exchange, secrets=True)))
    port = free_port()
    args = ["paper", "--state", str(state), "--port", str(port), "--log-level", "warning"]
    with run_cli(args, port=port) as proc:
        asyncio.run(_orders(port, 200))  # warm-up
        before = _cpu_seconds(proc.pid)
        asyncio.run(_orders(port, ORDERS))
        spent = _cpu_seconds(proc.pid) - before

    per_order_us = spent / ORDERS * 1e6
    print(f"paper exchange: {per_order_us:.0f} µs server CPU per MARKET order")
    assert per_order_us < BUDGET_US
