"""Pass-through benchmark: what the gateway adds to a signed order, measured against the same
upstream called directly, in the same run.

    .venv/bin/python bench/bench_passthrough.py [--seconds 10] [--rounds 1]
                                                [--clients h1,aiohttp,httpx,httpx-aiohttp]

Starts a fast upstream (nginx `return 200` with a 406-byte order ack when nginx is installed,
else a raw uvloop responder), one gateway process per upstream client (one uvicorn worker,
uvloop + httptools, HMAC verify + replay check + re-sign on every request), then drives each
with wrk (-t1, its own process) at concurrency 1 and 32: a 2 s warm-up, then `--seconds` of
measurement. Every request is a distinct signed POST /fapi/v1/order (≈230-byte form body,
recvWindow 60000) replayed from a freshly generated file by a Lua script, so replay protection
never trips. Added latency = gateway p50 - direct p50 of the same round. Results: a table on
stdout and bench/results/passthrough.json. Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _clients import CLIENTS  # noqa: E402
from _load import PATH  # noqa: E402
from _load import WRK_LUA  # noqa: E402
from _load import generate  # noqa: E402
from _load import run_wrk  # noqa: E402
from _load import start_upstream  # noqa: E402

CONCURRENCY = (1, 32)
MAX_GATEWAY_RPS = 16_000  # sizes the request files; a gateway run past it would see replays


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


@contextlib.contextmanager
def _process(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _measure(
    url: str, conns: int, seconds: float, work: Path, lua: Path, tag: str, unique: bool
) -> dict[str, float]:
    requests = work / f"{tag}.txt"
    warm = work / f"{tag}-warm.txt"
    per_second = MAX_GATEWAY_RPS if unique else 2_000  # direct runs may wrap around
    generate(warm, int(2 * per_second), f"{tag}w")
    generate(requests, int(seconds * per_second), tag)
    run_wrk(url + PATH, conns, 2, warm, lua)
    result = run_wrk(url + PATH, conns, seconds, requests, lua)
    requests.unlink()
    warm.unlink()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--clients", default="h1,aiohttp,httpx,httpx-aiohttp")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "passthrough.json")
    args = parser.parse_args()
    clients = [c for c in args.clients.split(",") if c]
    for c in clients:
        if c not in CLIENTS:
            parser.error(f"unknown client {c!r}")
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2

    results: dict[str, dict[int, list[dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="mg-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        lua = work / "signed.lua"
        lua.write_text(WRK_LUA)
        up_port = _free_port()
        up_proc, up_kind = start_upstream(work, up_port)
        stack.enter_context(_process(up_proc))
        _wait_port(up_port, up_proc)
        upstream_url = f"http://127.0.0.1:{up_port}"
        gateways: dict[str, str] = {}
        for client in clients:
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "_gateway.py"), str(port), upstream_url, client],
                cwd=HERE.parent,
                env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
            )
            stack.enter_context(_process(proc))
            _wait_port(port, proc)
            gateways[client] = f"http://127.0.0.1:{port}"
        targets = {"direct": upstream_url} | {f"gateway[{c}]": u for c, u in gateways.items()}
        for round_no in range(args.rounds):
            for name, url in targets.items():
                for conns in CONCURRENCY:
                    tag = f"r{round_no}-{name.replace('[', '-').rstrip(']')}-c{conns}"
                    r = _measure(url, conns, args.seconds, work, lua, tag, name != "direct")
                    results.setdefault(name, {}).setdefault(conns, []).append(r)
                    print(
                        f"round {round_no + 1} {name:<24} c={conns:<3} p50 {r['p50_ms']:.3f} ms"
                        f"  p99 {r['p99_ms']:.3f} ms  {r['rps']:>9.0f} rps"
                        f"  non-2xx {r['non_2xx']:.0f}",
                        flush=True,
                    )
    summary = _summarise(results)
    _print_table(summary, up_kind)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "upstream": up_kind,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    args.out.write_bytes(
        orjson.dumps(
            {"meta": meta, "summary": summary, "raw": results},
            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
        )
    )
    print(f"\nwritten {args.out}")
    failed = any(r["non_2xx"] for runs in results.values() for rs in runs.values() for r in rs)
    return 1 if failed else 0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _summarise(results: dict[str, dict[int, list[dict[str, float]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    direct = results["direct"]
    for name, by_conns in results.items():
        summary[name] = {}
        for conns, runs in by_conns.items():
            added = [r["p50_ms"] - d["p50_ms"] for r, d in zip(runs, direct[conns], strict=True)]
            summary[name][conns] = {
                "p50_ms": _median([r["p50_ms"] for r in runs]),
                "p99_ms": _median([r["p99_ms"] for r in runs]),
                "rps": _median([r["rps"] for r in runs]),
                "added_p50_ms": _median(added),
                "non_2xx": sum(r["non_2xx"] for r in runs),
            }
    return summary


def _print_table(summary: dict[str, Any], upstream: str) -> None:
    print(f"\nupstream: {upstream}; load: wrk -t1; median of rounds\n")
    print("| target | c | p50 ms | p99 ms | req/s | added p50 ms |")
    print("|---|---|---|---|---|---|")
    for name, by_conns in summary.items():
        for conns, s in by_conns.items():
            added = "—" if name == "direct" else f"{s['added_p50_ms']:+.3f}"
            print(
                f"| {name} | {conns} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | {s['rps']:,.0f} "
                f"| {added} |"
            )


if __name__ == "__main__":
    sys.exit(main())
