"""Fixtures for engine-level paper tests: a `PaperExchange` on a manual clock, events recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from margin_gate.clock import ManualClock
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.engine import RecordingSink
from tests.unit.paper import states

MakeExchange = Callable[..., PaperExchange]


@pytest.fixture
def make_exchange() -> MakeExchange:
    """`make_exchange(data=None, **changes)`: the `simple()` state unless `data` is given."""

    def make(data: dict[str, Any] | None = None, **changes: Any) -> PaperExchange:
        state = states.build(data if data is not None else states.simple(), **changes)
        return PaperExchange(state, clock=ManualClock(), sink=RecordingSink())

    return make


def sink(ex: PaperExchange) -> RecordingSink:
    assert isinstance(ex.sink, RecordingSink)
    return ex.sink
