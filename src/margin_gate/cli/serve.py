"""`margin-gate serve --config PATH [--host H] [--port P]`: run the gateway under uvicorn.

uvicorn with uvloop and httptools (the fastest pair measured, ../shared/performance.md). With
`[server] workers > 1` uvicorn forks workers that each build the app from the same config file
(through `app_factory`, which reads MARGIN_GATE_CONFIG set here).
"""

from __future__ import annotations

import argparse
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


def _configure_logging(settings: Any) -> None:
    """JSON (or text) lines on stderr, every configured secret masked, uvicorn's loggers
    included (uvicorn runs with `log_config=None`, so it leaves them to us)."""
    from margin_gate.ops import configure_logging
    from margin_gate.ops import secrets_from_settings

    server = settings.server
    configure_logging(
        server.log_level,
        json=server.log_format == "json",
        secrets=secrets_from_settings(settings),
        access_log=server.access_log,
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
    _configure_logging(settings)
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
        "log_config": None,  # keep the logging configured above (uvicorn's loggers too)
        # SIGTERM: stop accepting, let requests in flight finish for up to drain_s; the
        # lifespan shutdown then closes everything (app.py), all within shutdown_timeout_s.
        "timeout_graceful_shutdown": settings.server.drain_s,
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
    server = _graceful_server(uvicorn.Config(create_app(settings), **common))
    server.run()
    return 0 if server.started else 3  # as uvicorn.run: 3 = start-up failed


# On SIGTERM uvicorn closes its listening sockets and every idle keep-alive connection at once:
# a bot whose next request is already on its way over such a connection meets a reset (the
# gateway never read it, but the bot cannot know). With one worker margin-gate first stops
# accepting (a new connection is refused: nothing was sent), then gives the open connections
# up to IDLE_GRACE_S to bring one more request, answered with `Connection: close` (the app
# adds it once draining), and only then lets uvicorn close the rest and drain.
IDLE_GRACE_S = 1.0


def _graceful_server(config: Any) -> Any:
    import asyncio
    import socket

    import uvicorn

    grace_s = min(IDLE_GRACE_S, float(config.timeout_graceful_shutdown or 0))

    class GracefulServer(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for listener in self.servers:
                listener.close()
            for sock in sockets or []:
                sock.close()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_s
            connections = self.server_state.connections  # uvicorn offers no event for this
            while loop.time() < deadline and any(map(_idle, connections)):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            await super().shutdown(sockets)

    return GracefulServer(config)


def _idle(connection: Any) -> bool:
    """A keep-alive connection between requests (uvicorn's own test in `shutdown()`)."""
    cycle = getattr(connection, "cycle", None)
    return cycle is None or bool(getattr(cycle, "response_complete", True))


def app_factory() -> Any:
    """Build the app in a uvicorn worker process from MARGIN_GATE_CONFIG."""
    from margin_gate.app import create_app
    from margin_gate.settings import load_settings

    settings = load_settings(os.environ[_CONFIG_ENV])
    _configure_logging(settings)
    return create_app(settings)
