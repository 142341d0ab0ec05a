"""Background tasks: `spawn` keeps a strong reference, names the task and logs a crash.

The event loop holds tasks only weakly, so a fire-and-forget `asyncio.create_task` can be
garbage-collected mid-flight (mitmproxy bans it for that reason; so do we, via ruff TID251).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

__all__ = ["cancel_all", "spawn"]

_T = TypeVar("_T")
_log = logging.getLogger("margin_gate.tasks")
_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, _T], *, name: str) -> asyncio.Task[_T]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        _log.error("task %s crashed", task.get_name(), exc_info=exc)


async def cancel_all(tasks: list[asyncio.Task[Any]], *, timeout: float = 5.0) -> None:
    """Cancel `tasks` and wait (bounded) for them to finish."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
