"""Request timestamps for tests that sign requests by hand."""

from __future__ import annotations

import time

_last = [0]


def fresh_ms() -> int:
    """Now in epoch ms, strictly increasing across calls: a bot's identical request twice in
    one millisecond carries the same signature, which the gateway refuses as a replay."""
    now = max(int(time.time() * 1000), _last[0] + 1)
    _last[0] = now
    return now
