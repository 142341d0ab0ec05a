"""`start_paper_server`: run the paper exchange under uvicorn inside the caller's event loop.

For the gateway (`upstream = "paper"`) and tests: the server is a task (`tasks.spawn`) on the
current loop, port 0 picks a free port (read back from the bound socket), and the server never
takes over the process's signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from margin_gate.paper.app import create_app
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.loader import load_state
from margin_gate.paper.schema import PaperState
from margin_gate.tasks import spawn

__all__ = ["PaperServer", "start_paper_server"]


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The host process owns SIGINT/SIGTERM; an embedded server is stopped with stop().
        yield


class PaperServer:
    """A running paper exchange: `url`, `port`, the live `exchange`, and `stop()`."""

    def __init__(
        self, server: uvicorn.Server, task: asyncio.Task[None], app: Starlette, host: str, port: int
    ) -> None:
        self._server = server
        self._task = task
        self.app = app
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def exchange(self) -> PaperExchange:
        exchange: PaperExchange = self.app.state.exchange
        return exchange

    async def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        if not self._task.done():
            self._task.cancel()

    async def __aenter__(self) -> PaperServer:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when it cannot bind; not ours to do
        raise RuntimeError(f"paper exchange failed to start (exit {exc.code})") from None


async def start_paper_server(
    state_or_path: PaperState | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    control_api: bool = False,
    startup_timeout: float = 10.0,
) -> PaperServer:
    state = state_or_path if isinstance(state_or_path, PaperState) else load_state(state_or_path)
    app = create_app(state, control_api=control_api)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = _EmbeddedServer(config)
    task = spawn(_serve(server), name="paper-server")
    deadline = asyncio.get_running_loop().time() + startup_timeout
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("paper exchange stopped during start-up")
        if asyncio.get_running_loop().time() > deadline:
            server.should_exit = True
            raise TimeoutError("paper exchange did not start")
        await asyncio.sleep(0.005)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return PaperServer(server, task, app, host, bound)
