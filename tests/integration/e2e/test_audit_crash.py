"""SIGKILL the gateway (a `margin-gate serve` process) during a burst of orders: every order
whose response reached a bot has its decision and outcome records on disk, and `margin-gate
audit verify` passes on what is there. The paper exchange runs standalone (`margin-gate paper`)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from tests.support.gateway_config import one_bot_config
from tests.support.servers import REPO
from tests.support.servers import free_port
from tests.support.servers import run_cli
from tests.support.servers import wait_for_port

pytestmark = pytest.mark.slow
BOT_KEY, BOT_SECRET = "crashBotKey000000001", "crash-bot-secret-0001"
ORDERS = [
    {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
     "quantity": "0.001", "price": "40000"},  # accepted, rests
    {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "12"},  # -2019
]  # fmt: skip


def write_configs(tmp_path: Path, paper_port: int, gw_port: int) -> Path:
    return one_bot_config(
        tmp_path, paper_port=paper_port, gw_port=gw_port, bot=("crash", BOT_KEY, BOT_SECRET)
    )


def fire(url: str, stop: threading.Event, seen: list[tuple[str, int]], i: int) -> None:
    with httpx.Client(timeout=5) as http:
        n = 0
        while not stop.is_set():
            order = ORDERS[(n + i) % len(ORDERS)]
            n += 1
            payload = urlencode({**order, "timestamp": str(int(time.time() * 1000)),
                                 "newClientOrderId": f"c{i}-{n}"})  # fmt: skip
            sig = hmac.new(BOT_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
            try:
                r = http.post(f"{url}/papi/v1/um/order?{payload}&signature={sig}",
                              headers={"X-MBX-APIKEY": BOT_KEY})  # fmt: skip
            except httpx.HTTPError:
                return  # the gateway is gone
            seen.append((r.headers["x-request-id"], r.status_code))


def test_sigkill_during_burst_then_every_answered_order_is_on_disk(tmp_path: Path) -> None:
    # Arrange
    paper_port, gw_port = free_port(), free_port()
    config = write_configs(tmp_path, paper_port, gw_port)
    seen: list[tuple[str, int]] = []
    stop = threading.Event()
    paper_args = ["paper", "--state", str(tmp_path / "paper.json"), "--port", str(paper_port),
                  "--log-level", "warning"]  # fmt: skip
    with run_cli(paper_args, port=paper_port, stderr=subprocess.DEVNULL):
        gw = subprocess.Popen(
            [sys.executable, "-m", "margin_gate", "serve", "--config", str(config)],
            cwd=REPO, env=dict(os.environ), stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_port(gw_port, timeout=20, proc=gw)
            url = f"http://127.0.0.1:{gw_port}"
            threads = [threading.Thread(target=fire, args=(url, stop, seen, i)) for i in range(4)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            while len(seen) < 80 and time.monotonic() < deadline:
                time.sleep(0.005)
            # Act
            gw.send_signal(signal.SIGKILL)
            gw.wait(timeout=10)
        finally:
            stop.set()
            if gw.poll() is None:
                gw.kill()
                gw.wait()
        for t in threads:
            t.join(timeout=10)
    audit = tmp_path / "audit"
    lines = b"".join(f.read_bytes() for f in sorted(audit.glob("*.jsonl"))).splitlines()
    records = []
    for line in lines:
        # a torn last line (the write SIGKILL interrupted) is allowed
        with contextlib.suppress(orjson.JSONDecodeError):
            records.append(orjson.loads(line))
    verified = subprocess.run(
        [sys.executable, "-m", "margin_gate", "audit", "verify", str(audit)],
        capture_output=True, cwd=REPO, check=False,
    )  # fmt: skip
    # Assert
    kinds = Counter((r.get("request_id"), r["kind"]) for r in records)
    statuses = Counter(status for _, status in seen)
    assert statuses[200] > 5, statuses
    assert statuses[400] > 5, statuses
    for rid, _ in seen:
        assert kinds[(rid, "decision")] == 1, rid
        assert kinds[(rid, "outcome")] == 1, rid
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert b"not closed" in verified.stdout  # the chain ends in a crash, as it should
