"""Graceful shutdown: count in-flight requests, drain them, close resources in order within a
budget, and guarantee the process exits within a configured time after SIGTERM.

How it fits uvicorn (uvicorn/server.py `Server.shutdown`, 0.54): on SIGTERM uvicorn stops
accepting (closes the listening sockets), closes idle keep-alive connections, waits for busy
connections to finish for at most `timeout_graceful_shutdown` seconds (then cancels their
tasks), and only then runs the lifespan shutdown. So:

    SIGTERM ─► exit deadline armed (install_exit_deadline), /readyz answers 503 draining
            ─► uvicorn: stop accepting; in-flight requests finish (≤ drain_s)
            ─► lifespan shutdown: ShutdownSequence.run()
                 1. InFlight.wait_idle (what uvicorn did not wait for: other servers, stragglers)
                 2..n. the registered steps, in order, each bounded by its timeout and by
                       what is left of the budget: stop the state runtime (release the stream
                       lease, stop syncing), close the audit log (drain the stream queue; the
                       rest goes to the spill file), close the upstream client and Redis
            ─► exit; if anything hangs, the deadline thread ends the process with code 70

Pick `drain_s` (uvicorn's `timeout_graceful_shutdown`) ≥ the upstream `timeout_s`, so an order
already sent is never cut off before its answer, and `exit_within_s` ≥ drain_s + the steps'
budget (`ShutdownSequence(budget_s=...)`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

__all__ = [
    "DEADLINE_EXIT_CODE",
    "InFlight",
    "ShutdownSequence",
    "StepResult",
    "install_exit_deadline",
]

_log = logging.getLogger("margin_gate.shutdown")
DEADLINE_EXIT_CODE = 70  # EX_SOFTWARE: the shutdown did not finish in time


class InFlight:
    """Requests in progress. The handler calls `enter()` when a request arrives and `exit()`
    when its answer is sent (or wraps the app with `track`). Event-loop thread only."""

    __slots__ = ("_count", "_idle", "peak", "total")

    def __init__(self) -> None:
        self._count = 0
        self._idle: asyncio.Event | None = None
        self.peak = 0
        self.total = 0

    def __len__(self) -> int:
        return self._count

    def enter(self) -> None:
        self._count += 1
        self.total += 1
        if self._count > self.peak:
            self.peak = self._count

    def exit(self) -> None:
        self._count -= 1
        if self._count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True once no request is in progress; False if `timeout` passed first."""
        if self._count == 0:
            return True
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        try:
            await asyncio.wait_for(self._idle.wait(), max(timeout, 0.0))
        except TimeoutError:
            return self._count == 0
        return True

    def track(self, app: ASGIApp) -> ASGIApp:
        """`app` with every http request counted."""

        async def tracked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            self.enter()
            try:
                await app(scope, receive, send)
            finally:
                self.exit()

        return tracked


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    ok: bool
    seconds: float
    error: str | None = None  # "timeout after 2.0 s", or the exception's type and message


class ShutdownSequence:
    """The ordered closing steps of the lifespan shutdown, within `budget_s` overall."""

    def __init__(
        self,
        *,
        budget_s: float,
        in_flight: InFlight | None = None,
        drain_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.budget_s = budget_s
        self.in_flight = in_flight
        self.drain_s = budget_s / 2 if drain_s is None else drain_s
        self._clock = clock
        self._steps: list[tuple[str, Callable[[], Awaitable[Any]], float]] = []
        self.draining = False
        self.results: list[StepResult] = []

    def begin(self) -> None:
        """Mark the process as draining (readiness turns 503). Idempotent; cheap; any thread."""
        self.draining = True

    def add(self, name: str, close: Callable[[], Awaitable[Any]], *, timeout_s: float) -> None:
        """Run `close()` at shutdown, after the steps added before it."""
        self._steps.append((name, close, timeout_s))

    async def run(self) -> list[StepResult]:
        """Drain, then every step in order; never raises (each failure is logged and kept)."""
        self.begin()
        start = self._clock()
        deadline = start + self.budget_s
        results: list[StepResult] = []
        if self.in_flight is not None:
            left = len(self.in_flight)
            ok = await self.in_flight.wait_idle(min(self.drain_s, deadline - self._clock()))
            error = None if ok else f"{len(self.in_flight)} request(s) still in flight"
            results.append(StepResult("drain", ok, self._clock() - start, error))
            if left or not ok:
                _log.info("shutdown: drained %d in-flight request(s): %s", left, error or "ok")
        for name, close, timeout_s in self._steps:
            results.append(await self._step(name, close, min(timeout_s, deadline - self._clock())))
        self.results = results
        failed = [r for r in results if not r.ok]
        _log.info(
            "shutdown finished in %.3f s%s",
            self._clock() - start,
            f"; failed: {', '.join(f'{r.name} ({r.error})' for r in failed)}" if failed else "",
        )
        return results

    async def _step(
        self, name: str, close: Callable[[], Awaitable[Any]], timeout_s: float
    ) -> StepResult:
        began = self._clock()
        if timeout_s <= 0:
            _log.error("shutdown step %s skipped: the shutdown budget is spent", name)
            return StepResult(name, False, 0.0, "skipped: budget spent")
        try:
            await asyncio.wait_for(close(), timeout_s)
        except TimeoutError:
            _log.error("shutdown step %s timed out after %.1f s", name, timeout_s)
            return StepResult(name, False, self._clock() - began, f"timeout after {timeout_s} s")
        except Exception as exc:
            _log.error("shutdown step %s failed: %s: %s", name, type(exc).__name__, exc)
            return StepResult(name, False, self._clock() - began, f"{type(exc).__name__}: {exc}")
        return StepResult(name, True, self._clock() - began)


def install_exit_deadline(
    seconds: float,
    *,
    signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    on_signal: Callable[[], None] | None = None,
    exit_code: int = DEADLINE_EXIT_CODE,
) -> Callable[[], None]:
    """Chain a handler in front of the current ones (uvicorn's, when called from the lifespan
    start-up): the first signal calls `on_signal` (e.g. `ShutdownSequence.begin`) and starts a
    daemon thread that ends the process with `exit_code` after `seconds` unless it has exited
    by then; then the previous handler runs as before. Main thread only (returns a no-op
    elsewhere). Returns a function that restores the previous handlers and disarms."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    deadline = _ExitDeadline(seconds, on_signal, exit_code)
    for sig in signals:
        deadline.previous[sig] = signal.signal(sig, deadline.handle)
    return deadline.uninstall


class _ExitDeadline:
    def __init__(
        self, seconds: float, on_signal: Callable[[], None] | None, exit_code: int
    ) -> None:
        self.seconds, self.on_signal, self.exit_code = seconds, on_signal, exit_code
        self.cancelled = threading.Event()
        self.armed = threading.Event()
        self.previous: dict[signal.Signals, Any] = {}

    def expire(self) -> None:
        if self.cancelled.wait(self.seconds):
            return
        message = f'{{"level":"error","msg":"shutdown exceeded {self.seconds} s: exiting now"}}\n'
        try:
            os.write(2, message.encode())
        finally:
            os._exit(self.exit_code)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.armed.is_set():
            self.armed.set()
            threading.Thread(target=self.expire, name="mg-exit-deadline", daemon=True).start()
            if self.on_signal is not None:
                self.on_signal()
        prev = self.previous.get(signal.Signals(signum))
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def uninstall(self) -> None:
        self.cancelled.set()
        for sig, prev in self.previous.items():
            if signal.getsignal(sig) == self.handle:
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)
