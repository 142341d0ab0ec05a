"""`margin-gate serve --config PATH [--host H] [--port P]`: run the gateway under uvicorn.

uvicorn with uvloop and httptools (the fastest pair measured, ../shared/performance.md). With
`[server] workers > 1` uvicorn forks workers that each build the app from the same config file
(through `app_factory`, which reads MARGIN_GATE_CONFIG set here).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

__all__ = ["app_factory", "register"]

_CONFIG_ENV = "MARGIN_GATE_CONFIG"
_HOST_ENV = "MARGIN_GATE_HOST"
_PORT_ENV = "MARGIN_GATE_PORT"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the gateway")
    parser.add_argument("--config", required=True, help="path to the gateway TOML config")
    parser.add_argument("--host", default=None, help="listen address (default: [server] host)")
    parser.add_argument("--port", type=int, default=None, help="listen port ([server] port)")
    parser.set_defaults(func=run)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from margin_gate.app import create_app
    from margin_gate.settings import ConfigError
    from margin_gate.settings import load_settings

    try:
        settings = load_settings(args.config).with_server(host=args.host, port=args.port)
    except ConfigError as exc:
        print(f"margin-gate: config error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings.server.log_level)
    common: dict[str, Any] = {
        "host": settings.server.host,
        "port": settings.server.port,
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": settings.server.access_log,
        "log_level": settings.server.log_level,
        "server_header": False,
        "date_header": False,
        "proxy_headers": False,  # X-Forwarded-* from a client must not change anything
        "log_config": None,  # keep the root logging configured above
        "timeout_graceful_shutdown": 10,
    }
    if settings.server.workers > 1:
        os.environ[_CONFIG_ENV] = str(args.config)
        uvicorn.run(
            "margin_gate.cli.serve:app_factory",
            factory=True,
            workers=settings.server.workers,
            **common,
        )
        return 0
    uvicorn.run(create_app(settings), **common)
    return 0


def app_factory() -> Any:
    """Build the app in a uvicorn worker process from MARGIN_GATE_CONFIG."""
    from margin_gate.app import create_app
    from margin_gate.settings import load_settings

    settings = load_settings(os.environ[_CONFIG_ENV])
    _configure_logging(settings.server.log_level)
    return create_app(settings)
