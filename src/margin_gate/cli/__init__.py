"""The `margin-gate` command: one sub-command per module in this package.

Each sub-command module exposes `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. Heavy imports stay inside the `func`s so `margin-gate --help` is fast.
This package is, with `settings.py`, the only reader of argv and the environment.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

__all__ = ["main"]

_COMMANDS = ("serve", "paper", "demo", "audit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="margin-gate",
        description="Pre-trade risk gateway for Binance Portfolio Margin.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"margin_gate.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"margin_gate.cli.{name}":
                raise
            continue  # sub-command not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
