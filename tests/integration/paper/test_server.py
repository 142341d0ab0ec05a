"""Running the paper exchange: embedded in the caller's loop (port 0) and as the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import httpx
import pytest

from margin_gate.paper import start_paper_server
from tests.support.servers import REPO
from tests.support.servers import free_port
from tests.support.servers import run_cli

DEFAULT_STATE = REPO / "config" / "paper-state.json"


async def test_embedded_server_on_port_zero_serves_and_stops() -> None:
    server = await start_paper_server(DEFAULT_STATE)
    url = server.url
    try:
        assert server.port > 0
        async with aiohttp.ClientSession() as session, session.get(f"{url}/fapi/v1/time") as r:
            assert r.status == 200
        assert server.exchange.status == "NORMAL"
        assert server.exchange.state.source == DEFAULT_STATE
    finally:
        await server.stop()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{url}/fapi/v1/time")


async def test_embedded_server_reports_a_port_in_use() -> None:
    first = await start_paper_server(DEFAULT_STATE)
    try:
        with pytest.raises(RuntimeError, match="failed to start"):
            await start_paper_server(DEFAULT_STATE, port=first.port)
    finally:
        await first.stop()


def test_cli_serves_the_default_state_with_control() -> None:
    port = free_port()
    args = ["paper", "--state", str(DEFAULT_STATE), "--port", str(port), "--control"]
    with run_cli(args, port=port, stderr=subprocess.DEVNULL):
        ping = httpx.get(f"http://127.0.0.1:{port}/papi/v1/ping", timeout=5)
        state = httpx.get(f"http://127.0.0.1:{port}/paper/control/state", timeout=5)

    assert (ping.status_code, ping.json()) == (200, {})
    assert state.json()["accountStatus"] == "NORMAL"


def test_cli_refuses_a_bad_state_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"risk": {"typo": 1}}')

    result = subprocess.run(
        [sys.executable, "-m", "margin_gate", "paper", "--state", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "unknown key 'risk.typo'" in result.stderr
