"""Hot-path cost of the operations code, per call (µs), against prometheus-client's own API.

    .venv/bin/python bench/_ops_cost.py [--n 200000] [--json out.json]

What one request adds on the order path once wired: `MetricsObserver.observe` (a count and the
total histogram), 4 stage observations, a request log line (orjson + redaction, buffered), and
InFlight enter/exit. prometheus-client's `labels(...).observe()` is shown for comparison (why
the hot path keeps plain numbers and builds families at scrape time).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram

from margin_gate.ops.logging import JsonFormatter
from margin_gate.ops.logging import RequestLogger
from margin_gate.ops.metrics import LATENCY_BUCKETS
from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.observers import MetricsObserver
from margin_gate.ops.redact import Redactor
from margin_gate.ops.shutdown import InFlight
from margin_gate.proxy.gate import RequestRecord
from margin_gate.proxy.routes import classify

SECRETS = [f"secret{i:02d}" + "x" * 56 for i in range(20)]
RECORD = RequestRecord(
    request_id="1a2b-6b04c0c0-3f",
    received_at_ms=1_700_000_000_000,
    method="POST",
    path="/papi/v1/um/order",
    route=classify("POST", "/papi/v1/um/order"),
    bot="bot1",
    account="main",
    status=200,
    code=None,
    rule=None,
    fate="answered",
    duration_ms=0.31,
)


def _time(fn: Callable[[], object], n: int) -> float:
    for _ in range(min(n, 10_000)):
        fn()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    n = parser.parse_args().n
    out: dict[str, float] = {}
    metrics = GatewayMetrics(redactor=Redactor(SECRETS))
    observer = MetricsObserver(metrics)
    out["ours: count()"] = _time(lambda: metrics.count("order", "accept", None, "bot1"), n)
    out["ours: observe(stage)"] = _time(lambda: metrics.observe("check", 0.00004), n)
    out["ours: MetricsObserver.observe(record)"] = _time(lambda: observer.observe(RECORD), n)
    registry = CollectorRegistry()
    hist = Histogram("h", "h", ["stage", "route"], registry=registry, buckets=LATENCY_BUCKETS)
    counter = Counter("c", "c", ["route", "decision", "rule", "bot"], registry=registry)
    bound_hist = hist.labels("check", "order")
    bound_counter = counter.labels("order", "accept", "", "bot1")
    out["prometheus-client: Counter.labels().inc()"] = _time(
        lambda: counter.labels("order", "accept", "", "bot1").inc(), n
    )
    out["prometheus-client: pre-bound Counter.inc()"] = _time(bound_counter.inc, n)
    out["prometheus-client: Histogram.labels().observe()"] = _time(
        lambda: hist.labels("check", "order").observe(0.00004), n
    )
    out["prometheus-client: pre-bound Histogram.observe()"] = _time(
        lambda: bound_hist.observe(0.00004), n
    )
    flight = InFlight()

    def enter_exit() -> None:
        flight.enter()
        flight.exit()

    out["InFlight enter+exit"] = _time(enter_exit, n)
    devnull = os.open(os.devnull, os.O_WRONLY)

    async def request_log() -> float:
        log = RequestLogger(fd=devnull, redactor=Redactor(SECRETS))
        log.start()
        try:
            return _time(lambda: log.observe(RECORD), n // 4)
        finally:
            log.close()

    out["RequestLogger.observe (orjson + 20-secret redaction, buffered)"] = asyncio.run(
        request_log()
    )
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(JsonFormatter(Redactor(SECRETS)))
    logger = logging.getLogger("bench.ops")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    out["logging.info via JsonFormatter (for comparison)"] = _time(
        lambda: logger.info("request", extra={"request_id": "x", "status": 200}), n // 4
    )
    _text, _ = metrics.render()
    started = time.perf_counter()
    for _ in range(100):
        metrics.render()
    out["render() per scrape (this registry)"] = (time.perf_counter() - started) / 100 * 1e6
    width = max(map(len, out))
    for name, us in out.items():
        print(f"{name:<{width}}  {us:8.2f} µs")
    if parser.parse_args().json:
        parser.parse_args().json.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    os.close(devnull)
    return 0


if __name__ == "__main__":
    sys.exit(main())
