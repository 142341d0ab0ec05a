"""run_all's extra scenarios: the bot's view (python-binance), peak RSS with many accounts and
positions, and the micro-benchmarks (projection, audit writer, ops hot path)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from _fixtures import BOT_SECRET
from _fixtures import ORDER_PATH
from _fixtures import REPO
from _fixtures import bot_key
from _fixtures import gateway_config
from _fixtures import rss_paper_state
from _fixtures import signed_orders
from _fixtures import write_toml
from _proc import Service
from _proc import free_port
from _proc import peak_rss_mb
from _proc import rss_mb
from _scenarios import Bench
from _scenarios import Target
from _scenarios import _Server
from _wrk import run_wrk


def _affinity(cpus: set[int] | None) -> Callable[[], None] | None:
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def botview(bench: Bench, *, orders: int) -> dict[str, Any]:
    """python-binance through the order path (memory store → paper) vs the paper directly."""
    t = Target("botview", "bot's view", "gateway", "paper", enforce=True)
    direct = bench.keys["bot-direct"]
    with bench.server(t, "botview", cpus=bench.server_cpus) as server:
        bench.probe(server, t, "botview")
        proc = subprocess.run(
            [
                sys.executable, str(Path(__file__).with_name("_botview.py")),
                server.url, bot_key(), BOT_SECRET,
                f"http://127.0.0.1:{bench.paper_port}", direct["api_key"], direct["secret"],
                "--orders", str(orders),
            ],
            capture_output=True, text=True, check=False, cwd=REPO,
            preexec_fn=_affinity(bench.other_cpus),
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result: dict[str, Any] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    bench.log(
        f"  bot's view: direct p50 {result['direct']['p50_ms']:.3f} ms, gateway p50 "
        f"{result['gateway']['p50_ms']:.3f} ms, added {result['added_p50_ms']:+.3f} ms"
    )
    return result


def rss_scenario(bench: Bench, *, accounts: int, positions: int, load_s: float) -> dict[str, Any]:
    """One gateway worker, `accounts` accounts of `positions` positions each (a dedicated paper
    exchange), the order path under a c=32 burst: its peak RSS."""
    work = bench.workdir
    keys = rss_paper_state(work / "rss-paper.json", accounts=accounts, positions=positions)
    paper_port = free_port()
    paper = Service(
        "rss-paper",
        [sys.executable, "-m", "margin_gate", "paper", "--state", str(work / "rss-paper.json"),
         "--port", str(paper_port), "--log-level", "warning"],
        port=paper_port, cwd=REPO, log=work / "rss-paper.log", cpus=bench.other_cpus,
    )  # fmt: skip
    try:
        port = free_port()
        config, env = gateway_config(
            port=port,
            upstream_url=f"http://127.0.0.1:{paper_port}",
            workdir=work / "rss",
            enforce=True,
            accounts={f"acct{n}": (k["api_key"], k["secret"]) for n, k in enumerate(keys)},
        )
        path = write_toml(work / "rss.toml", config)
        gateway = Service(
            "rss-gateway", [sys.executable, "-m", "margin_gate", "serve", "--config", str(path)],
            port=port, env=env, cwd=REPO, log=work / "rss-gateway.log", cpus=bench.server_cpus,
            timeout=120,
        )  # fmt: skip
        try:
            server = _Server(f"http://127.0.0.1:{port}", gateway, (bot_key(), BOT_SECRET))
            t = Target("rss", "rss", "gateway", "paper", enforce=True)
            probe = bench.probe(server, t, "rss")
            after_start = max(peak_rss_mb(p) for p in gateway.pids())
            requests = work / "rss-orders.txt"
            signed_orders(requests, int(load_s * 16_000), "rss", BOT_SECRET)
            result = run_wrk(
                server.url, ORDER_PATH, conns=32, seconds=load_s, requests=requests,
                key=bot_key(), lua=bench.lua, count_decisions=True, cpus=bench.other_cpus,
            )  # fmt: skip
            requests.unlink()
            peak = max(peak_rss_mb(p) for p in gateway.pids())
            now = max(rss_mb(p) for p in gateway.pids())
        finally:
            gateway.stop()
    finally:
        paper.stop()
    out = {
        "accounts": accounts,
        "positions": positions,
        "load_s": load_s,
        "peak_rss_mb": peak,
        "peak_rss_after_start_mb": after_start,
        "rss_mb": now,
        "ready": f"readyz {probe.ready}; probe decisions {probe.decisions}",
        "rps": result["rps"],
        "accept_rate": result.get("accepted", 0.0) / max(result["requests"], 1),
    }
    bench.log(
        f"  rss: peak {peak:.0f} MB (after start-up {after_start:.0f} MB, now {now:.0f} MB), "
        f"burst {result['rps']:,.0f}/s, accepted {out['accept_rate']:.1%}"
    )
    return out


def micro(
    here: Path, *, quick: bool, cpus: set[int] | None, log: Callable[[str], None]
) -> dict[str, Any]:
    """The projection and audit benchmarks and the ops cost, each pinned to the server CPU."""
    out: dict[str, Any] = {}
    jobs = {
        "projection": (
            "bench_projection.py",
            ["--iterations", "2000", "--rounds", "1"] if quick else ["--rounds", "3"],
        ),
        "audit": (
            "bench_audit.py",
            ["-n", "5000", "--n-tp", "20000", "--paced-s", "0.5"] if quick else [],
        ),
        "ops_cost": ("_ops_cost.py", ["--n", "50000"] if quick else []),
    }
    for name, (script, extra) in jobs.items():
        log(f"micro-benchmark: {script} {' '.join(extra)}")
        json_path = here / "results" / f".run_all-{name}.json"
        proc = subprocess.run(
            [sys.executable, str(here / script), "--json", str(json_path), *extra],
            capture_output=True, text=True, check=False, cwd=here.parent,
            preexec_fn=_affinity(cpus),
        )  # fmt: skip
        if proc.returncode != 0:
            log(f"  ! {script} failed ({proc.returncode}): {proc.stderr[-500:]}")
            continue
        if json_path.exists():
            out[name] = orjson.loads(json_path.read_bytes())
            json_path.unlink()
        if name != "ops_cost":
            out[f"{name}_text"] = proc.stdout
    return out
