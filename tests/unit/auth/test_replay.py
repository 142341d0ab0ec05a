"""auth/replay.py: a signature is usable once until it expires; a full guard fails closed."""

from __future__ import annotations

import pytest

from margin_gate.auth.replay import MemoryReplayGuard
from margin_gate.auth.replay import NoReplayGuard
from margin_gate.auth.replay import ReplayGuardFull


async def test_first_use_when_seen_again_before_expiry_then_false() -> None:
    # Arrange
    guard = MemoryReplayGuard()
    # Act
    first = await guard.first_use("a", expires_at_ms=1_000, now_ms=0)
    again = await guard.first_use("a", expires_at_ms=1_000, now_ms=999)
    other = await guard.first_use("b", expires_at_ms=1_000, now_ms=999)
    # Assert
    assert (first, again, other) == (True, False, True)


async def test_first_use_when_expired_then_forgotten_and_memory_freed() -> None:
    # Arrange
    guard = MemoryReplayGuard()
    for i in range(100):
        await guard.first_use(f"k{i}", expires_at_ms=1_000 + i, now_ms=0)
    # Act
    fresh = await guard.first_use("k0", expires_at_ms=5_000, now_ms=1_050)
    # Assert
    assert fresh is True
    assert len(guard) == 51  # k50..k99 still live, plus k0 again


async def test_first_use_when_full_then_raises() -> None:
    # Arrange
    guard = MemoryReplayGuard(max_entries=2)
    await guard.first_use("a", 10_000, 0)
    await guard.first_use("b", 10_000, 0)
    # Act / Assert
    with pytest.raises(ReplayGuardFull):
        await guard.first_use("c", 10_000, 0)
    assert await guard.first_use("a", 10_000, 1) is False


async def test_no_guard_when_replayed_then_accepts_like_binance() -> None:
    guard = NoReplayGuard()
    assert await guard.first_use("a", 1, 0)
    assert await guard.first_use("a", 1, 0)


async def test_purge_when_burst_expires_then_bounded_per_call_but_never_full() -> None:
    # Arrange: 1000 signatures expire at once.
    guard = MemoryReplayGuard(max_entries=1000)
    for i in range(1000):
        await guard.first_use(f"k{i}", expires_at_ms=10, now_ms=0)
    # Act
    await guard.first_use("new", expires_at_ms=100, now_ms=50)
    after_one_call = len(guard)
    # Assert: one call purges a batch, not the whole burst...
    assert 1000 - 64 < after_one_call < 1000
    # ...and a full guard purges everything expired before refusing.
    for i in range(999):
        assert await guard.first_use(f"m{i}", expires_at_ms=100, now_ms=50)
    assert len(guard) == 1000
    with pytest.raises(ReplayGuardFull):
        await guard.first_use("one-too-many", expires_at_ms=100, now_ms=50)


async def test_begin_when_memory_guard_then_same_answer_as_first_use() -> None:
    guard = MemoryReplayGuard()
    assert await guard.begin("a", 1_000, 0)
    assert not await guard.begin("a", 1_000, 1)
    assert await NoReplayGuard().begin("a", 1_000, 0)
