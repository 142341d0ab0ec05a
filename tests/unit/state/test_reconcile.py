"""Merging a REST load with what the stream applied meanwhile."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from margin_gate.margin.model import OpenOrder
from margin_gate.state.data import AccountData
from margin_gate.state.effective import effective_positions
from margin_gate.state.events import apply_events
from margin_gate.state.reconcile import merge_load
from tests.unit.state.builders import T0
from tests.unit.state.builders import account_update
from tests.unit.state.builders import load
from tests.unit.state.builders import otu

D = Decimal


def amount(data: AccountData) -> Decimal:
    p = effective_positions(data).get(("UM", "BTCUSDT", "BOTH"))
    return D(0) if p is None else p.amount


def test_stream_newer_than_rest_keeps_the_stream_position() -> None:
    data = merge_load(AccountData(), load(position="1", t=T0))
    apply_events(data, [account_update(t=T0 + 50, position="3")], T0 + 50)
    merged = merge_load(data, load(position="2", t=T0 + 20, started=T0 + 10))
    assert amount(merged) == D(3)


def test_rest_newer_than_stream_wins_and_drops_included_fills() -> None:
    data = merge_load(AccountData(), load(position="1", t=T0))
    apply_events(
        data,
        [otu(x="TRADE", status="FILLED", l="1", z="1", fill_price="30000", trade_id=5, t=T0 + 10)],
        T0 + 10,
    )
    assert amount(data) == D(2)
    merged = merge_load(data, load(position="2", t=T0 + 10, started=T0 + 11))
    assert merged.fills == {}
    assert amount(merged) == D(2)


def test_fill_after_the_rest_read_stays_pending() -> None:
    data = merge_load(AccountData(), load(position="1", t=T0))
    apply_events(
        data,
        [otu(x="TRADE", status="FILLED", l="1", z="1", fill_price="30000", trade_id=5, t=T0 + 30)],
        T0 + 30,
    )
    merged = merge_load(data, load(position="1", t=T0 + 20, started=T0 + 15))
    assert amount(merged) == D(2)


def test_open_orders_opened_or_closed_during_the_load() -> None:
    data = merge_load(AccountData(), load())
    apply_events(data, [otu(x="NEW", status="NEW", q="1", order_id=1)], T0 + 5)  # before
    apply_events(data, [otu(x="NEW", status="NEW", q="1", order_id=2)], T0 + 20)  # during
    apply_events(data, [otu(x="CANCELED", status="CANCELED", q="1", order_id=1)], T0 + 21)
    rest_orders = (OpenOrder("UM", "BTCUSDT", "1", "BUY", "LIMIT", D(1), D(30000)),)
    rest = replace(load(started=T0 + 10), open_orders=rest_orders)
    merged = merge_load(data, rest)
    assert set(merged.open_orders) == {"UM:BTCUSDT:2"}
