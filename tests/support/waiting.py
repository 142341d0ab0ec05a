"""Polling waits with a deadline (nautilus's `eventually`), sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.02) -> T:
    """Call `probe` until it returns a truthy value or raises no AssertionError."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            if last is not None:
                raise last
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def eventually_async(
    probe: Callable[[], T], *, timeout: float = 5.0, interval: float = 0.02
) -> T:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = probe()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            if last is not None:
                raise last
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
