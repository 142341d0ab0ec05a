"""The whole performance report in one command, on this machine, in one run.

    .venv/bin/python bench/run_all.py            # full: 3 interleaved rounds × 10 s per cell
    .venv/bin/python bench/run_all.py --quick    # 1 round × 3 s, shortened extras (~5 min)
    options: --rounds N --seconds S --only ROW,ROW --skip-extras --update-doc

Side by side, at concurrency 1 and 32 (wrk -t1, its own process on CPU 1; the server under
test alone on CPU 0; the upstream, Redis and this script on CPU 1): the paper exchange direct,
nginx (keep-alive upstream) in front of it, margin-gate pass-through, and margin-gate's order
path with the memory and the Redis store — once with the paper exchange as the upstream (the
real thing: orders are IOC limits the exchange expires at once, the user stream settles each
reservation) and once with a stub upstream (nginx answering every order in no time, so the
server under test is the bottleneck; for the order path the stub *refuses* orders with -2010
so each reservation is released at once, and the gateway's state still comes from the paper
exchange through nginx). Plus granian in place of uvicorn, two workers vs one, the bot's view
through python-binance, peak RSS with 10 accounts × 200 positions, and the projection, audit
and ops micro-benchmarks. Every order is a distinct signed request (replay protection).

Per cell: p50, p99 (wrk), requests/s, CPU seconds per 1,000 requests of the server process
tree (/proc), peak RSS (VmHWM), and for the order path the share of orders the gateway
accepted (its X-Margin-Gate-Decision header; a benchmark of rejections is not the order path).
Results: bench/results/run_all.json and .md; `--update-doc` rewrites the table in
docs/performance.md. Needs nginx, wrk and redis-server (Debian: apt-get install -y nginx wrk
redis-server).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import os
import platform
import shutil
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

from _extras import botview  # noqa: E402
from _extras import micro  # noqa: E402
from _extras import rss_scenario  # noqa: E402
from _nginx import nginx_binary  # noqa: E402
from _nginx import nginx_version  # noqa: E402
from _report import markdown  # noqa: E402
from _report import summarise  # noqa: E402
from _report import update_doc  # noqa: E402
from _scenarios import MAIN_TARGETS  # noqa: E402
from _scenarios import WORKER_TARGETS  # noqa: E402
from _scenarios import Bench  # noqa: E402
from _scenarios import Target  # noqa: E402
from _wrk import wrk_binary  # noqa: E402
from _wrk import wrk_version  # noqa: E402

CONCURRENCY = (1, 32)
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "performance.md"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def preflight() -> str | None:
    missing = [
        pkg
        for pkg, ok in (
            ("nginx", nginx_binary()),
            ("wrk", wrk_binary()),
            ("redis-server", shutil.which("redis-server")),
        )
        if not ok
    ]
    if missing:
        return (
            f"missing: {', '.join(missing)}. Install with: apt-get install -y {' '.join(missing)}"
        )
    if importlib.util.find_spec("granian") is None:
        return "missing: the bench extra (granian). Install: .venv/bin/pip install -e '.[bench]'"
    return None


def run_rows(
    bench: Bench,
    targets: tuple[Target, ...],
    rounds: int,
    conns: tuple[int, ...],
    *,
    pinned: bool,
    runs: dict[str, dict[int, list[dict[str, float]]]],
    probes: dict[str, list[dict[str, Any]]],
) -> None:
    server_cpus = bench.server_cpus if pinned else bench.all_cpus
    wrk_cpus = bench.other_cpus if pinned else bench.all_cpus
    for r in range(rounds):
        for t in targets:
            tag = f"r{r}-{t.id.replace('/', '-')}"
            try:
                with bench.server(t, tag, cpus=server_cpus) as server:
                    if t.kind == "gateway":
                        probe = bench.probe(server, t, tag)
                        probes.setdefault(t.id, []).append(probe.as_dict())
                        if not all(200 <= s < 300 or s == 400 for s in probe.statuses):
                            log(f"  ! {t.id}: probe answers {probe.statuses}: {probe.sample}")
                    for c in conns:
                        res = bench.measure(server, t, c, f"{tag}-c{c}", wrk_cpus=wrk_cpus)
                        runs.setdefault(t.id, {}).setdefault(c, []).append(res)
                        accept = (
                            f"  accepted {res['accepted'] / max(res['requests'], 1):.1%}"
                            if "accepted" in res
                            else ""
                        )
                        log(
                            f"round {r + 1}/{rounds} {t.id:<24} c={c:<3} p50 {res['p50_ms']:.3f}"
                            f"  p99 {res['p99_ms']:.3f}  {res['rps']:>8,.0f}/s"
                            f"  cpu {res['cpu_s_per_1k']:.3f} s/1k  rss {res['peak_rss_mb']:.0f} MB"
                            f"  non-2xx {res['non_2xx']:.0f}{accept}"
                        )
            except Exception as exc:  # one broken row must not lose the run
                log(f"  ! {t.id} round {r + 1} failed: {type(exc).__name__}: {exc}")


def machine() -> dict[str, str]:
    import granian
    import prometheus_client  # noqa: F401
    import uvicorn

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_v = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    load = os.getloadavg()
    return {
        "machine": f"{os.cpu_count()} vCPU ({model}), {platform.platform()}, load average "
        f"{load[0]:.2f} at start",
        "versions": f"Python {platform.python_version()}, nginx {nginx_version()}, "
        f"{wrk_version()}, redis-server {redis_v[2] if len(redis_v) > 2 else '?'}, "
        f"uvicorn {uvicorn.__version__}, granian {granian.__version__}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round × 3 s, short extras")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--only", help="comma-separated row ids (see _scenarios.MAIN_TARGETS)")
    parser.add_argument("--skip-extras", action="store_true")
    parser.add_argument("--update-doc", action="store_true", help=f"rewrite the table in {DOC}")
    parser.add_argument("--out", type=Path, default=RESULTS / "run_all.json")
    args = parser.parse_args()
    problem = preflight()
    if problem:
        print(f"run_all: {problem}", file=sys.stderr)
        return 2
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    warm_s = 1.0 if args.quick else 2.0
    only = set(args.only.split(",")) if args.only else None
    main_targets = tuple(t for t in MAIN_TARGETS if only is None or t.id in only)
    command = "bench/run_all.py " + " ".join(sys.argv[1:])
    info = machine()
    with workdir() as tmp:
        bench = Bench(tmp, warm_s=warm_s, seconds=seconds, log=log)
        pinning = (
            "Server under test pinned to CPU 0; wrk, upstream, Redis and the harness on CPU 1."
            if bench.server_cpus
            else "Fewer than 2 CPUs: nothing pinned."
        )
        if bench.other_cpus:
            os.sched_setaffinity(0, bench.other_cpus)
        runs: dict[str, dict[int, list[dict[str, float]]]] = {}
        probes: dict[str, list[dict[str, Any]]] = {}
        extras: dict[str, Any] = {}
        log(f"{info['machine']}; {rounds} round(s) × {seconds} s; workdir {tmp}")
        bench.start(redis=True)
        try:
            run_rows(
                bench, main_targets, rounds, CONCURRENCY, pinned=True, runs=runs, probes=probes
            )
            if not args.skip_extras:
                extras_phase(bench, rounds, args.quick, runs, probes, extras)
        finally:
            bench.stop()
        if not args.skip_extras:
            extras.update(micro(HERE, quick=args.quick, cpus=bench.server_cpus, log=log))
    meta_end_load = os.getloadavg()[0]
    summary = summarise(runs)
    choose_server(summary, extras)
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f".venv/bin/python {command}".strip(),
        "mode": "quick" if args.quick else "full",
        "rounds": rounds,
        "seconds": seconds,
        "warm_s": warm_s,
        "pinning": pinning,
        "load_average_end": round(meta_end_load, 2),
        **info,
    }
    labels = {t.id: t.label for t in (*MAIN_TARGETS, *WORKER_TARGETS)}
    result = {
        "meta": meta, "labels": labels, "summary": summary, "extras": extras,
        "probes": probes, "raw": runs,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    options = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    args.out.write_bytes(orjson.dumps(result, option=options))
    table = markdown(result)
    args.out.with_suffix(".md").write_text(table)
    print("\n" + table)
    log(f"written {args.out} and {args.out.with_suffix('.md')}")
    if args.update_doc:
        update_doc(DOC, table)
        log(f"updated {DOC}")
    return 0


def extras_phase(
    bench: Bench,
    rounds: int,
    quick: bool,
    runs: dict[str, dict[int, list[dict[str, float]]]],
    probes: dict[str, list[dict[str, Any]]],
    extras: dict[str, Any],
) -> None:
    log("workers: 1 vs 2 (unpinned), c=32")
    bench.repin(bench.all_cpus)
    try:
        run_rows(bench, WORKER_TARGETS, rounds, (32,), pinned=False, runs=runs, probes=probes)
    finally:
        bench.repin(bench.other_cpus)
    ratios = {}
    for name in ("pass/stub", "order-redis/stub"):
        one, two = runs.get(f"{name}/w1", {}).get(32), runs.get(f"{name}/w2", {}).get(32)
        if one and two:
            ratios[name] = (
                sorted(b["rps"] for b in two)[len(two) // 2]
                / sorted(a["rps"] for a in one)[len(one) // 2]
            )
    extras["worker_ratios"] = ratios
    log("the bot's view: python-binance through the gateway vs direct")
    try:
        extras["botview"] = botview(bench, orders=150 if quick else 600)
    except Exception as exc:
        log(f"  ! botview failed: {type(exc).__name__}: {exc}")
    log("peak RSS: 10 accounts × 200 positions")
    try:
        extras["rss"] = rss_scenario(bench, accounts=10, positions=200, load_s=3 if quick else 10)
    except Exception as exc:
        log(f"  ! rss scenario failed: {type(exc).__name__}: {exc}")


def choose_server(summary: dict[str, Any], extras: dict[str, Any]) -> None:
    """Compare granian with uvicorn on the same rows; say which is faster, with figures."""
    parts = []
    for row in ("pass/stub", "order-mem/stub"):
        u, g = summary.get(row, {}), summary.get(f"{row}/granian", {})
        if 32 in u and 32 in g and 1 in u and 1 in g:
            parts.append(
                f"{row}: uvicorn {u[32]['rps']:,.0f}/s, p50 c=1 {u[1]['p50_ms']:.3f} ms vs "
                f"granian {g[32]['rps']:,.0f}/s, p50 c=1 {g[1]['p50_ms']:.3f} ms"
            )
            extras.setdefault("server_figures", {})[row] = {
                "uvicorn_rps_c32": u[32]["rps"], "granian_rps_c32": g[32]["rps"],
                "uvicorn_p50_c1": u[1]["p50_ms"], "granian_p50_c1": g[1]["p50_ms"],
            }  # fmt: skip
    if parts:
        figures = extras["server_figures"]
        faster = sum(f["granian_rps_c32"] > f["uvicorn_rps_c32"] for f in figures.values())
        keep = "granian" if faster * 2 > len(figures) else "uvicorn"
        extras["server_choice"] = f"keep {keep} ({'; '.join(parts)})"


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A temporary work directory, removed afterwards unless MG_BENCH_KEEP is set."""
    path = tempfile.mkdtemp(prefix="mg-run-all-")
    try:
        yield Path(path)
    finally:
        if not os.environ.get("MG_BENCH_KEEP"):
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
