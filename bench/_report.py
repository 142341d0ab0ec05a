"""run_all's summary: medians over rounds, added latency against the direct row of the same
upstream and round, the issue's targets checked, and the markdown for docs/performance.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

Runs = dict[str, dict[int, list[dict[str, float]]]]
BEGIN, END = "<!-- run_all:begin -->", "<!-- run_all:end -->"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def baseline_of(target_id: str) -> str:
    return "direct/paper" if target_id.endswith("/paper") else "direct/stub"


def summarise(runs: Runs) -> dict[str, dict[int, dict[str, float]]]:
    out: dict[str, dict[int, dict[str, float]]] = {}
    for tid, by_conns in runs.items():
        out[tid] = {}
        base = runs.get(baseline_of(tid.split("/w")[0].removesuffix("/granian")), {})
        for conns, rs in by_conns.items():
            s: dict[str, float] = {
                k: median([r[k] for r in rs]) for k in ("p50_ms", "p99_ms", "rps", "cpu_s_per_1k")
            }
            s["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rs)
            s["requests"] = sum(r["requests"] for r in rs)
            s["non_2xx"] = sum(r["non_2xx"] for r in rs)
            s["errors"] = sum(r.get("socket_errors", 0.0) for r in rs)
            if "accepted" in rs[0]:
                counted = sum(r["accepted"] + r["rejected"] + r["undecided"] for r in rs)
                s["accept_rate"] = sum(r["accepted"] for r in rs) / max(counted, 1)
                s["hook_seen"] = float(sum(r["accepted"] + r["rejected"] for r in rs) > 0)
            base_runs = base.get(conns, [])
            if base_runs and len(base_runs) == len(rs) and not tid.startswith("direct/"):
                s["added_p50_ms"] = median(
                    [r["p50_ms"] - b["p50_ms"] for r, b in zip(rs, base_runs, strict=True)]
                )
                s["added_p99_ms"] = median(
                    [r["p99_ms"] - b["p99_ms"] for r, b in zip(rs, base_runs, strict=True)]
                )
            out[tid][conns] = s
    return out


def targets(
    summary: dict[str, Any], extras: dict[str, Any]
) -> list[tuple[str, str, str, bool | None]]:
    """(target, measured, where, met) for the issue's targets, on each upstream measured."""
    rows: list[tuple[str, str, str, bool | None]] = []

    def get(tid: str, c: int, key: str) -> float | None:
        value = summary.get(tid, {}).get(c, {}).get(key)
        return None if value is None else float(value)

    for up in ("stub", "paper"):
        mem, red, pas = f"order-mem/{up}", f"order-redis/{up}", f"pass/{up}"
        if mem not in summary:
            continue
        a50, a99 = get(mem, 1, "added_p50_ms"), get(mem, 1, "added_p99_ms")
        rps, prps = get(mem, 32, "rps"), get(pas, 32, "rps")
        pa50 = get(pas, 1, "added_p50_ms")
        _check(rows, f"order path (memory) added p50, c=1 ≤ 0.30 ms [{up}]", a50, 0.30, "le", "ms")
        _check(rows, f"order path (memory) added p99, c=1 ≤ 1 ms [{up}]", a99, 1.0, "le", "ms")
        _check(rows, f"order path (memory) c=32 ≥ 5,000/s [{up}]", rps, 5000, "ge", "/s")
        if a50 is not None and pa50:
            _check(rows, f"order/pass-through added p50 ≤ 1.5× [{up}]", a50 / pa50, 1.5, "le", "×")
        if rps is not None and prps:
            _check(rows, f"order/pass-through c=32 rps ≥ 65 % [{up}]", rps / prps, 0.65, "ge", "")
        _check(
            rows, f"order path (Redis) added p50, c=1 ≤ 0.45 ms [{up}]",
            get(red, 1, "added_p50_ms"), 0.45, "le", "ms",
        )  # fmt: skip
        _check(
            rows, f"order path (Redis) c=32 ≥ 4,000/s [{up}]", get(red, 32, "rps"), 4000, "ge", "/s"
        )
    for name, ratio in extras.get("worker_ratios", {}).items():
        _check(rows, f"2 workers / 1 worker throughput ≥ 1.6× [{name}]", ratio, 1.6, "ge", "×")
    bot = extras.get("botview", {}).get("added_p50_ms")
    _check(rows, "bot's view (python-binance) added p50 ≤ 0.5 ms", bot, 0.5, "le", "ms")
    rss = extras.get("rss", {}).get("peak_rss_mb")
    _check(rows, "peak RSS per worker, 10 accounts × 200 positions < 150 MB", rss, 150, "lt", "MB")
    return rows


def _check(
    rows: list[tuple[str, str, str, bool | None]],
    name: str,
    value: float | None,
    limit: float,
    op: str,
    unit: str,
) -> None:
    if value is None:
        rows.append((name, "not measured", "", None))
        return
    met = {"le": value <= limit, "ge": value >= limit, "lt": value < limit}[op]
    shown = (
        f"{value:.0%}"
        if unit == ""
        else f"{value:,.3f} {unit}"
        if unit != "/s"
        else f"{value:,.0f}/s"
    )
    rows.append((name, shown, "", met))


def markdown(result: dict[str, Any]) -> str:
    meta, summary, extras = result["meta"], result["summary"], result["extras"]
    out = [
        f"Run {meta['date']} — `{meta['command']}`",
        "",
        f"Machine: {meta['machine']}. Versions: {meta['versions']}.",
        f"Mode: {meta['mode']}, {meta['rounds']} round(s) × {meta['seconds']} s per cell after a "
        f"{meta['warm_s']} s warm-up, rows interleaved; median of rounds. {meta['pinning']}",
        "",
        "| row | c | p50 ms | p99 ms | added p50 ms | req/s | CPU s / 1k req | peak RSS MB "
        "| accepted | risk hook |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = result["labels"]
    probes = result.get("probes", {})
    for tid, by_conns in summary.items():
        if "/w" in tid:
            continue
        for conns in sorted(by_conns, key=int):
            s = by_conns[conns]
            added = s.get("added_p50_ms")
            accept = s.get("accept_rate")
            hook = _hook(tid, probes, s)
            out.append(
                f"| {labels[tid]} | {conns} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | "
                f"{'—' if added is None else f'{added:+.3f}'} | {s['rps']:,.0f} | "
                f"{s['cpu_s_per_1k']:.3f} | {s['peak_rss_mb']:.0f} | "
                f"{'—' if accept is None else f'{accept:.1%}'} | {hook} |"
            )
    out += ["", "Targets (issue 8):", "", "| target | measured | met |", "|---|---|---|"]
    for name, shown, _, met in targets(summary, extras):
        out.append(f"| {name} | {shown} | {'—' if met is None else 'yes' if met else '**no**'} |")
    out += _extras_md(result)
    return "\n".join(out) + "\n"


def _hook(tid: str, probes: dict[str, Any], s: dict[str, float]) -> str:
    if not tid.startswith(("order", "pass")):
        return "—"
    seen = s.get("hook_seen")
    if seen is None:
        seen = float(any(p.get("hook_active") for p in probes.get(tid, [])))
    return "active" if seen else "not active"


def _extras_md(result: dict[str, Any]) -> list[str]:
    extras, summary, labels = result["extras"], result["summary"], result["labels"]
    out: list[str] = []
    workers = [tid for tid in summary if "/w" in tid]
    if workers:
        out += [
            "",
            "Workers (unpinned: both cores shared by the workers, wrk and the upstream), c=32:",
            "",
        ]
        out += ["| row | req/s | p50 ms | p99 ms | CPU s / 1k req |", "|---|---|---|---|---|"]
        for tid in workers:
            for _conns, s in summary[tid].items():
                out.append(
                    f"| {labels[tid]} | {s['rps']:,.0f} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} | "
                    f"{s['cpu_s_per_1k']:.3f} |"
                )
        for name, ratio in extras.get("worker_ratios", {}).items():
            out.append(f"\n2 workers / 1 worker ({name}): {ratio:.2f}×")
    servers = extras.get("server_choice")
    if servers:
        out += ["", f"Server: {servers}"]
    bot = extras.get("botview")
    if bot:
        out += [
            "",
            "The bot's view (python-binance 1.0.37, sequential `papi_create_um_order`, timed in "
            "the client; gateway = order path, memory store → paper):",
            "",
            "| path | n | p50 ms | p99 ms |",
            "|---|---|---|---|",
        ]
        for name in ("direct", "gateway"):
            b = bot[name]
            out.append(f"| {name} | {b['n']} | {b['p50_ms']:.3f} | {b['p99_ms']:.3f} |")
        out.append(f"\nAdded p50: {bot['added_p50_ms']:+.3f} ms; failures {bot['failures']}.")
    rss = extras.get("rss")
    if rss:
        out += [
            "",
            f"Peak RSS, {rss['accounts']} accounts × {rss['positions']} positions (one worker, "
            f"after start-up and a {rss['load_s']} s c=32 order burst): "
            f"**{rss['peak_rss_mb']:.0f} MB** "
            f"(RSS at the end {rss['rss_mb']:.0f} MB; accounts ready: {rss['ready']}; "
            f"burst accepted {rss.get('accept_rate', 0):.1%}).",
        ]
    for key, title in (("ops_cost", "Ops hot-path cost (µs per call)"),):
        costs = extras.get(key)
        if costs:
            out += ["", f"{title}:", "", "| call | µs |", "|---|---|"]
            out += [f"| {name} | {us:.2f} |" for name, us in costs.items()]
    for key in ("projection", "audit"):
        text = extras.get(f"{key}_text")
        if text:
            out += ["", f"`bench/bench_{key}.py` (same run):", "", "```", text.strip(), "```"]
    return out


def update_doc(doc: Path, table: str) -> None:
    """Replace the block between the run_all markers in `doc` (append one if missing)."""
    text = doc.read_text() if doc.exists() else ""
    block = f"{BEGIN}\n{table}{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
