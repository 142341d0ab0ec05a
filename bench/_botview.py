"""The bot's view: python-binance (unmodified) placing orders through the gateway and directly,
in alternating blocks, timing each call end to end in the client. Prints JSON.

    python bench/_botview.py GATEWAY_URL KEY SECRET DIRECT_URL KEY SECRET [--orders N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from typing import Any

import orjson
from binance.client import Client  # type: ignore[import-untyped]

ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "IOC",
    "quantity": "0.002",
    "price": "62000",
}


def client(base: str, key: str, secret: str) -> Client:
    urls = {
        "API_URL": f"{base}/api",
        "MARGIN_API_URL": f"{base}/sapi",
        "FUTURES_URL": f"{base}/fapi",
        "FUTURES_COIN_URL": f"{base}/dapi",
        "PAPI_URL": f"{base}/papi",
    }
    cls: Any = type("BenchClient", (Client,), urls)
    return cls(key, secret, ping=False)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("gateway")
    parser.add_argument("gateway_key")
    parser.add_argument("gateway_secret")
    parser.add_argument("direct")
    parser.add_argument("direct_key")
    parser.add_argument("direct_secret")
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--block", type=int, default=50)
    args = parser.parse_args()
    clients = {
        "gateway": client(args.gateway, args.gateway_key, args.gateway_secret),
        "direct": client(args.direct, args.direct_key, args.direct_secret),
    }
    times: dict[str, list[float]] = {"gateway": [], "direct": []}
    failures: dict[str, int] = {"gateway": 0, "direct": 0}
    ids = itertools.count(1)

    def order() -> dict[str, str]:
        # a client order id per order, as bots send: two identical orders in one millisecond
        # would carry one signature, which the gateway refuses as a replay
        return {**ORDER, "newClientOrderId": f"bv-{os.getpid()}-{next(ids)}"}

    for c in clients.values():  # warm-up: connections, imports
        for _ in range(20):
            c.papi_create_um_order(**order())
    done = 0
    while done < args.orders:
        for name, c in clients.items():
            for _ in range(args.block):
                started = time.perf_counter()
                try:
                    c.papi_create_um_order(**order())
                except Exception:
                    failures[name] += 1
                    continue
                times[name].append((time.perf_counter() - started) * 1000)
        done += args.block
    out: dict[str, Any] = {"failures": failures}
    for name, values in times.items():
        out[name] = {
            "n": len(values),
            "p50_ms": statistics.median(values) if values else None,
            "p99_ms": _percentile(values, 0.99) if values else None,
        }
    g, d = out["gateway"]["p50_ms"], out["direct"]["p50_ms"]
    out["added_p50_ms"] = g - d if g is not None and d is not None else None
    sys.stdout.write(orjson.dumps(out).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
