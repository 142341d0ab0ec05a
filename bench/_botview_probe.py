"""Where the bot's view goes: python-binance and a bare keep-alive HTTP client, each placing the
bench IOC order sequentially through the gateway (order path, memory store → paper) and
directly against the paper exchange, with and without a pause between orders; and the
gateway's own view of the same requests (its /metrics: time from request to answer, and the
upstream round trip inside it). Prints one JSON object.

    .venv/bin/python bench/_botview_probe.py [--orders 300] [--pause-ms 5]

The gateway is pinned to CPU 0, the paper exchange and the clients to CPU 1 (as run_all does).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from prometheus_client.parser import text_string_to_metric_families

from _botview import ORDER
from _botview import client as binance_client
from _fixtures import BOT_SECRET
from _fixtures import REPO
from _fixtures import bench_paper_state
from _fixtures import bot_key
from _fixtures import gateway_config
from _fixtures import write_toml
from _proc import free_port


def _wait(port: int, path: str = "/papi/v1/ping", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


class Bare:
    """A minimal keep-alive client: http.client, one connection, the order signed by hand."""

    def __init__(self, port: int, key: str, secret: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.key, self.secret = key, secret.encode()
        self.n = 0

    def order(self) -> None:
        # a unique client order id: two orders in one millisecond would otherwise be one
        # signature, which the gateway refuses as a replay
        self.n += 1
        params = {**ORDER, "newClientOrderId": f"probe-{os.getpid()}-{self.n}"}
        payload = urlencode({**params, "timestamp": int(time.time() * 1000)})
        sig = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        body = f"{payload}&signature={sig}"
        headers = {"X-MBX-APIKEY": self.key, "Content-Type": "application/x-www-form-urlencoded"}
        self.conn.request("POST", "/papi/v1/um/order", body=body, headers=headers)
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"{r.status}: {r.read()[:200]!r}")


def _metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if (
                s.name.startswith("margin_gate_latency_seconds_")
                and s.labels.get("route") == "order"
            ) and s.name.endswith(("_sum", "_count")):
                out[f"{s.labels['stage']}{s.name[-4:] if s.name.endswith('_sum') else '_n'}"] = (
                    s.value
                )
    return out


def _time(fn: Any, n: int, pause_s: float) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
        if pause_s:
            time.sleep(pause_s)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--pause-ms", type=float, default=5.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="mg-botview-") as tmp:
        work = Path(tmp)
        keys = bench_paper_state(work / "paper.json")
        paper_port, gw_port = free_port(), free_port()
        paper = subprocess.Popen(
            [sys.executable, "-m", "margin_gate", "paper", "--state", str(work / "paper.json"),
             "--port", str(paper_port), "--log-level", "warning"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        gk = keys["gateway-upstream"]
        config, env = gateway_config(port=gw_port, upstream_url=f"http://127.0.0.1:{paper_port}",
                                     workdir=work, enforce=True,
                                     account_key=(gk["api_key"], gk["secret"]))  # fmt: skip
        config["server"]["request_log"] = False
        write_toml(work / "gw.toml", config)
        gw = subprocess.Popen(
            [sys.executable, "-m", "margin_gate", "serve", "--config", str(work / "gw.toml")],
            cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, {0}),
        )  # fmt: skip
        try:
            _wait(paper_port)
            _wait(gw_port, "/readyz")
            direct = keys["bot-direct"]
            gw_url, paper_url = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{paper_port}"
            dk, ds = direct["api_key"], direct["secret"]
            clients = {  # made fresh for each pass (an idle keep-alive connection expires)
                "binance/gateway": lambda: binance_client(gw_url, bot_key(), BOT_SECRET),
                "binance/direct": lambda: binance_client(paper_url, dk, ds),
                "bare/gateway": lambda: Bare(gw_port, bot_key(), BOT_SECRET),
                "bare/direct": lambda: Bare(paper_port, dk, ds),
            }
            out: dict[str, Any] = {}
            for pause in (0.0, args.pause_ms / 1000):
                for name, make in clients.items():
                    c = make()
                    fn = (lambda c=c: c.papi_create_um_order(**ORDER)) if name[0] == "b" and \
                        name.startswith("binance") else c.order  # fmt: skip
                    _time(fn, 30, pause)  # warm-up
                    before = _metrics(gw_port) if "gateway" in name else {}
                    times = _time(fn, args.orders, pause)
                    row: dict[str, Any] = {"p50_ms": round(statistics.median(times), 3)}
                    if before:
                        after = _metrics(gw_port)
                        n = after["total_n"] - before["total_n"]
                        for stage in ("total", "upstream", "check", "auth"):
                            mean = (after[f"{stage}_sum"] - before[f"{stage}_sum"]) / n * 1000
                            row[f"gw_{stage}_mean_ms"] = round(mean, 3)
                    out[f"{name} pause={pause * 1000:g}ms"] = row
            print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
        finally:
            gw.terminate()
            paper.terminate()
            gw.wait(10)
            paper.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
