"""Micro-benchmark: one worst-case projection against accounts of 10, 100 and 1,000 positions.

    .venv/bin/python bench/bench_projection.py [--iterations 20000] [--rounds 3] [--json out.json]

Each account has N USDⓈ-M positions on N synthetic symbols, all margined in USDT (the asset
every projection touches), plus USDT/BTC/ETH balances and a BTC loan, so the running totals are
as crowded as they get. Timed with `time.perf_counter_ns` per call, after a warm-up, GC on;
each figure is the least disturbed of `--rounds` rounds (all round medians go to the JSON):
- project: `project(risk, intent)` for a MARKET BUY on one symbol (issue 4 target: < 50 µs at
  1,000 positions and flat in N);
- project+pending: the same with 10 resting orders on that symbol (both scenarios evaluated);
- parse: `parse_intent` of the same request; reducing: `is_risk_reducing`;
- mark update: `AccountRisk.update_mark_price` on one symbol (the live-state hot path);
- build: `AccountRisk.from_snapshot` (once per snapshot; O(N)), fewer iterations.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from pathlib import Path

from margin_gate.margin import AccountRisk
from margin_gate.margin import AccountSnapshot
from margin_gate.margin import Balance
from margin_gate.margin import Bracket
from margin_gate.margin import Instrument
from margin_gate.margin import OpenOrder
from margin_gate.margin import OrderIntent
from margin_gate.margin import Position
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import instrument_map
from margin_gate.margin import is_risk_reducing
from margin_gate.margin import parse_intent
from margin_gate.margin import project

D = Decimal
SIZES = (10, 100, 1_000)
BRACKETS = (
    Bracket(D(0), D(50_000), D("0.004"), D(0)),
    Bracket(D(50_000), D(250_000), D("0.005"), D(50)),
    Bracket(D(250_000), D(1_000_000), D("0.01"), D(1_300)),
    Bracket(D(1_000_000), D("1e12"), D("0.025"), D(16_300)),
)
REQUEST = {"symbol": "S0USDT", "side": "BUY", "type": "MARKET", "quantity": "0.5"}


def account(n: int, resting: int = 0) -> AccountSnapshot:
    symbols = [f"S{i}USDT" for i in range(n)]
    instruments = instrument_map(
        Instrument(s, "UM", f"S{i}", "USDT", "USDT", tick_size=D("0.01"), step_size=D("0.001"))
        for i, s in enumerate(symbols)
    )
    positions = tuple(
        Position(s, "UM", "BOTH", D(i % 7 - 3 or 1) / 2, D(1_000 + i))
        for i, s in enumerate(symbols)
    )
    orders = tuple(
        OpenOrder("UM", "S0USDT", str(k), "BUY" if k % 2 else "SELL", "LIMIT", D(1), D(990 + k))
        for k in range(resting)
    )
    return AccountSnapshot(
        balances=(
            Balance("USDT", D(50_000), um_wallet=D(2_000_000)),
            Balance("BTC", D(3), D(1)),
            Balance("ETH", D(40)),
        ),
        positions=positions,
        instruments=instruments,
        brackets=dict.fromkeys(symbols, BRACKETS),
        mark_prices={s: D(1_000 + i) + D("0.5") for i, s in enumerate(symbols)},
        index_prices={"USDT": D(1), "BTC": D(40_000), "ETH": D(2_000)},
        collateral_rates={"USDT": D(1), "BTC": D("0.95"), "ETH": D("0.9")},
        open_orders=orders,
    )


def timed(fn: Callable[[], object], iterations: int, rounds: int) -> dict[str, object]:
    """Time `iterations` calls per round; keep the round with the lowest median (the one the
    machine's other load disturbed least, as timeit does) and list every round's median."""
    for _ in range(min(1_000, iterations)):
        fn()
    clock = time.perf_counter_ns
    best: list[int] = []
    medians = []
    for _ in range(rounds):
        samples = []
        for _ in range(iterations):
            start = clock()
            fn()
            samples.append(clock() - start)
        samples.sort()
        medians.append(statistics.median(samples) / 1_000)
        if not best or statistics.median(samples) < statistics.median(best):
            best = samples
    return {
        "median_us": statistics.median(best) / 1_000,
        "p99_us": best[int(len(best) * 0.99) - 1] / 1_000,
        "iterations": iterations,
        "round_medians_us": medians,
    }


def run(iterations: int, rounds: int) -> dict[str, dict[str, dict[str, object]]]:
    settings = ProjectionSettings()
    results: dict[str, dict[str, dict[str, object]]] = {}
    for n in SIZES:
        snap = account(n)
        risk = AccountRisk.from_snapshot(snap, settings)
        busy = AccountRisk.from_snapshot(account(n, resting=10), settings)
        intent = parse_intent("POST", "/papi/v1/um/order", REQUEST, snap.instruments)
        assert isinstance(intent, OrderIntent), intent
        marks = [D(1_000) + D(k % 50) for k in range(64)]
        ticks = iter(range(1 << 62))

        def mark_update(risk: AccountRisk, marks: list[Decimal], ticks: Iterator[int]) -> None:
            risk.update_mark_price("S1USDT", marks[next(ticks) % 64])

        path, instruments = "/papi/v1/um/order", snap.instruments
        results[str(n)] = {
            "project": timed(partial(project, risk, intent), iterations, rounds),
            "project+pending": timed(partial(project, busy, intent), iterations, rounds),
            "parse": timed(
                partial(parse_intent, "POST", path, REQUEST, instruments), iterations, rounds
            ),
            "reducing": timed(partial(is_risk_reducing, risk, intent), iterations, rounds),
            "mark update": timed(partial(mark_update, risk, marks, ticks), iterations, rounds),
            "build": timed(
                partial(AccountRisk.from_snapshot, snap, settings),
                max(20, iterations // 500),
                rounds,
            ),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = run(args.iterations, args.rounds)
    ops = list(next(iter(results.values())))
    print(f"{'positions':>9}  " + "  ".join(f"{op:>21}" for op in ops))
    print(f"{'':>9}  " + "  ".join(f"{'median / p99 µs':>21}" for _ in ops))
    for n, row in results.items():
        cells = [f"{row[op]['median_us']:>9.1f} / {row[op]['p99_us']:>9.1f}" for op in ops]
        print(f"{n:>9}  " + "  ".join(cells))
    if args.json:
        meta = {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "iterations": args.iterations,
        }
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
