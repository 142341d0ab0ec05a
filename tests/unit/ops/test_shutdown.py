"""InFlight, ShutdownSequence and the exit deadline."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

from margin_gate.ops.shutdown import DEADLINE_EXIT_CODE
from margin_gate.ops.shutdown import InFlight
from margin_gate.ops.shutdown import ShutdownSequence
from margin_gate.ops.shutdown import install_exit_deadline


async def test_wait_idle_returns_when_the_last_request_ends() -> None:
    flight = InFlight()
    flight.enter()
    flight.enter()

    async def finish() -> None:
        await asyncio.sleep(0.05)
        flight.exit()
        await asyncio.sleep(0.05)
        flight.exit()

    task = asyncio.ensure_future(finish())
    started = time.monotonic()
    assert await flight.wait_idle(2.0)
    assert 0.08 < time.monotonic() - started < 1.0
    await task
    assert (len(flight), flight.peak, flight.total) == (0, 2, 2)


async def test_wait_idle_gives_up_after_its_timeout() -> None:
    flight = InFlight()
    flight.enter()

    assert not await flight.wait_idle(0.05)
    assert await InFlight().wait_idle(0)


async def test_track_counts_http_requests_only() -> None:
    flight = InFlight()
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(len(flight))

    tracked = flight.track(app)
    await tracked({"type": "http"}, None, None)  # type: ignore[arg-type]
    await tracked({"type": "lifespan"}, None, None)  # type: ignore[arg-type]

    assert seen == [1, 0]
    assert len(flight) == 0


async def test_steps_run_in_order_after_the_drain() -> None:
    order: list[str] = []
    flight = InFlight()
    flight.enter()
    seq = ShutdownSequence(budget_s=5, in_flight=flight, drain_s=2)

    def step(name: str) -> Any:
        async def close() -> None:
            order.append(name)

        return close

    for name in ("state", "audit", "upstream"):
        seq.add(name, step(name), timeout_s=1)

    def drained() -> None:
        order.append("drained")
        flight.exit()

    asyncio.get_running_loop().call_later(0.05, drained)

    results = await seq.run()

    assert order == ["drained", "state", "audit", "upstream"]
    assert [r.name for r in results] == ["drain", "state", "audit", "upstream"]
    assert all(r.ok for r in results)
    assert seq.draining


async def test_a_failing_or_hanging_step_does_not_stop_the_rest() -> None:
    ran: list[str] = []

    async def boom() -> None:
        raise RuntimeError("disk gone")

    async def hang() -> None:
        await asyncio.sleep(60)

    async def last() -> None:
        ran.append("last")

    seq = ShutdownSequence(budget_s=5)
    seq.add("boom", boom, timeout_s=1)
    seq.add("hang", hang, timeout_s=0.1)
    seq.add("last", last, timeout_s=1)
    started = time.monotonic()

    results = await seq.run()

    assert time.monotonic() - started < 1.0
    assert [(r.name, r.ok) for r in results] == [("boom", False), ("hang", False), ("last", True)]
    assert results[0].error == "RuntimeError: disk gone"
    assert results[1].error == "timeout after 0.1 s"
    assert ran == ["last"]


async def test_the_budget_bounds_the_whole_sequence() -> None:
    async def slow() -> None:
        await asyncio.sleep(60)

    seq = ShutdownSequence(budget_s=0.2)
    seq.add("first", slow, timeout_s=10)
    seq.add("second", slow, timeout_s=10)
    started = time.monotonic()

    results = await seq.run()

    assert time.monotonic() - started < 0.6
    assert not results[0].ok
    assert results[1].error == "skipped: budget spent"


def test_exit_deadline_is_a_no_op_off_the_main_thread() -> None:
    import threading

    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(install_exit_deadline(1)))
    t.start()
    t.join()
    out[0]()  # the no-op uninstall


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_exit_deadline_ends_a_process_whose_shutdown_hangs() -> None:
    proc = _child(
        """
        import signal, sys, time
        from margin_gate.ops.shutdown import install_exit_deadline
        hung = []
        def previous(signum, frame):      # stands for uvicorn's handler: starts a shutdown
            hung.append(signum)           # ... that never finishes
        signal.signal(signal.SIGTERM, previous)
        install_exit_deadline(0.5, on_signal=lambda: print("draining", flush=True))
        print("ready", flush=True)
        while True:
            time.sleep(0.01)              # a loop that never ends
        """
    )
    with proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)

        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - started

    assert proc.returncode == DEADLINE_EXIT_CODE
    assert 0.4 < elapsed < 3.0
    assert out == b"draining\n"
    assert b"shutdown exceeded 0.5 s" in err


def test_default_handler_still_terminates_and_uninstall_restores() -> None:
    proc = _child(
        """
        import signal, time
        from margin_gate.ops.shutdown import install_exit_deadline
        uninstall = install_exit_deadline(30)
        uninstall()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        install_exit_deadline(30)
        print("ready", flush=True)
        time.sleep(30)
        """
    )
    with proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)

    assert proc.returncode == -signal.SIGTERM
