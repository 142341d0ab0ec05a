"""`margin-gate paper`: run the paper exchange standalone under uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "paper",
        help="run the paper exchange (a Binance Portfolio Margin venue on loopback)",
        description="Serve the paper exchange: Binance PM REST, user and mark price streams.",
    )
    parser.add_argument("--state", required=True, help="state file (JSON or TOML)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8700, help="port (default 8700; 0 = any)")
    parser.add_argument(
        "--control",
        action="store_true",
        help="mount the unauthenticated control API at /paper/control (loopback use only)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    import uvicorn

    from margin_gate.paper import create_app
    from margin_gate.paper import load_state
    from margin_gate.paper.loader import StateError

    try:
        state = load_state(args.state)
    except (OSError, StateError) as exc:
        print(f"margin-gate paper: {exc}", file=sys.stderr)
        return 2
    app = create_app(state, control_api=args.control)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0
