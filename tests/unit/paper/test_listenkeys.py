"""listenKey bookkeeping (60 min validity, one active key) and fault-rule matching."""

from __future__ import annotations

from margin_gate.paper.faults import FaultRule
from margin_gate.paper.faults import Faults
from margin_gate.paper.listenkeys import VALIDITY_MS
from margin_gate.paper.listenkeys import ListenKeys

T0 = 1_700_000_000_000


def test_a_key_lives_sixty_minutes_after_its_last_keepalive() -> None:
    keys = ListenKeys(seed=1)
    key = keys.create(T0)

    assert keys.create(T0 + 1000) == key  # POST again: same key, extended
    assert keys.keepalive(key, T0 + VALIDITY_MS)
    assert keys.is_valid(key, T0 + 2 * VALIDITY_MS - 1)
    assert keys.pop_expired(T0 + 2 * VALIDITY_MS) == [key]
    assert not keys.keepalive(key, T0 + 2 * VALIDITY_MS)
    assert keys.create(T0 + 2 * VALIDITY_MS) != key


def test_forced_expiry_and_close() -> None:
    keys = ListenKeys(seed=1)
    key = keys.create(T0)

    assert keys.expire() == [key]
    assert not keys.is_valid(key, T0)
    assert not keys.close(key)


def test_fault_rules_match_in_order_and_count_down() -> None:
    faults = Faults()
    faults.add(FaultRule("latency", path="/papi/v1/um/*", method="POST", count=2, ms=5))
    faults.add(FaultRule("error", count=None))

    first = faults.take("POST", "/papi/v1/um/order")
    other = faults.take("GET", "/papi/v1/um/order")
    second = faults.take("POST", "/papi/v1/um/order")
    third = faults.take("POST", "/papi/v1/um/order")

    assert first is not None
    assert first.kind == "latency"
    assert other is not None
    assert other.kind == "error"
    assert second is first
    assert third is not None
    assert third.kind == "error"  # the latency rule was used up
    assert len(faults.rules) == 1
