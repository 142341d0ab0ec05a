"""SIGTERM under uvicorn: a burst in flight is answered in full, the shutdown steps run in
order after it, and the process exits within its deadline even when a step hangs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.servers import REPO
from tests.support.servers import free_port
from tests.support.servers import wait_for_port

pytestmark = pytest.mark.slow


def _serve(port: int, events: Path, **env: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "uvicorn", "tests.integration.ops.shutdown_app:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--timeout-graceful-shutdown", "3",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "MG_EVENTS": str(events), **env})
    wait_for_port(port, proc=proc)
    return proc


async def _burst(url: str, n: int, ms: int) -> list[int | str]:
    async with aiohttp.ClientSession() as session:

        async def one() -> int | str:
            try:
                async with session.get(f"{url}?ms={ms}") as r:
                    await r.read()
                    return r.status
            except aiohttp.ClientError as exc:
                return type(exc).__name__

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_sigterm_during_a_burst_answers_every_request_then_closes_in_order(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events"
    port = free_port()
    proc = _serve(port, events)
    try:
        burst = asyncio.ensure_future(_burst(f"http://127.0.0.1:{port}/order", 40, 600))
        await asyncio.sleep(0.3)  # all 40 in flight
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        statuses = await burst
        await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert statuses == [200] * 40
    lines = events.read_text().splitlines()
    assert [line.split(" in_flight")[0] for line in lines] == [
        "signal",
        "lifespan shutdown",
        "step state",
        "step audit",
        "step upstream",
        "done",
    ]
    assert lines[0].endswith("in_flight=40")
    assert lines[1].endswith("in_flight=0")  # uvicorn drained before the lifespan shutdown
    assert elapsed < 3.0
    assert proc.returncode in (0, -signal.SIGTERM)


async def test_new_connections_are_refused_once_draining(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(port, tmp_path / "events")
    try:
        burst = asyncio.ensure_future(_burst(f"http://127.0.0.1:{port}/order", 5, 800))
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        late = await _burst(f"http://127.0.0.1:{port}/order", 1, 0)
        assert await burst == [200] * 5
    finally:
        await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)

    assert late == ["ClientConnectorError"]


async def test_a_hung_shutdown_step_cannot_keep_the_process_alive(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(port, tmp_path / "events", MG_HANG_STEP="1", MG_EXIT_WITHIN_S="1.5")
    try:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert code == 70
    assert 1.3 < elapsed < 4.0
    assert "step state" in (tmp_path / "events").read_text()
