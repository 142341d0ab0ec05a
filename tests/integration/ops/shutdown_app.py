"""A tiny ASGI app wired like the gateway will be, for the SIGTERM tests (run by uvicorn in a
subprocess): requests sleep `?ms=`, `InFlight` counts them, the lifespan installs the exit
deadline and runs a `ShutdownSequence` whose steps append to $MG_EVENTS. With
$MG_HANG_STEP=1 one step blocks the event loop forever (only the deadline can end it).

    MG_EVENTS=/tmp/ev uvicorn tests.integration.ops.shutdown_app:app --port N
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import parse_qs

from margin_gate.ops.health import OpsEndpoints
from margin_gate.ops.shutdown import InFlight
from margin_gate.ops.shutdown import ShutdownSequence
from margin_gate.ops.shutdown import install_exit_deadline

EVENTS = os.environ.get("MG_EVENTS", "/dev/null")
EXIT_WITHIN_S = float(os.environ.get("MG_EXIT_WITHIN_S", "8"))
flight = InFlight()
sequence = ShutdownSequence(budget_s=3, in_flight=flight, drain_s=2)
ops = OpsEndpoints(draining=lambda: sequence.draining)


def event(text: str) -> None:
    with open(EVENTS, "a") as f:
        f.write(f"{text} in_flight={len(flight)}\n")


def _step(name: str) -> Any:
    async def close() -> None:
        if name == "audit" and os.environ.get("MG_HANG_STEP"):
            time.sleep(3600)  # noqa: ASYNC251 - a blocked event loop: no timeout can fire
        await asyncio.sleep(0.05)
        event(f"step {name}")

    return close


for _name in ("state", "audit", "upstream"):
    sequence.add(_name, _step(_name), timeout_s=1)


async def _http(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] in ("/healthz", "/readyz"):
        await ops(scope, receive, send)
        return
    ms = int(parse_qs(scope["query_string"].decode()).get("ms", ["0"])[0])
    await asyncio.sleep(ms / 1000)
    body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


tracked = flight.track(_http)


def _on_signal() -> None:
    sequence.begin()
    event("signal")


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await tracked(scope, receive, send)
        return
    if scope["type"] != "lifespan":
        return
    await receive()
    install_exit_deadline(EXIT_WITHIN_S, on_signal=_on_signal)
    await send({"type": "lifespan.startup.complete"})
    await receive()
    event("lifespan shutdown")
    await sequence.run()
    event("done")
    await send({"type": "lifespan.shutdown.complete"})
