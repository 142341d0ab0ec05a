"""The pending book, PendingOrder JSON, and the worse-side scenario rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.margin import OpenOrder
from margin_gate.margin import OrderRef
from margin_gate.margin import PendingOrder
from margin_gate.margin import pending_from_open_order
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.pending import PendingBook
from margin_gate.margin.pending import capped_first
from margin_gate.margin.pending import worst_effect
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import risk
from tests.unit.margin.builders import usdt

D = Decimal
BUY = OrderLeg("UM", "BTCUSDT", "BUY", D(1), at_market=True)
SELL = OrderLeg("UM", "BTCUSDT", "SELL", D(1), at_market=True)
CLOSE = OrderLeg("UM", "BTCUSDT", "SELL", None, reduce_only=True)


def test_pending_order_json_round_trip() -> None:
    order = PendingOrder("k", (BUY, LoanLeg("USDT", "BORROW", D(3))), "12", "cid", in_flight=True)
    data = order.to_json()
    assert data["in_flight"] == "true"
    assert PendingOrder.from_json(data) == order
    bare = PendingOrder("k2", (SELL,))
    assert PendingOrder.from_json(bare.to_json()) == bare
    with pytest.raises(TypeError):
        PendingOrder.from_json({**data, "legs": "oops"})


def test_open_orders_become_keyed_pending_orders() -> None:
    order = OpenOrder(
        "CM", "BTCUSD_PERP", "42", "SELL", "LIMIT", D(3), D(41_000), client_order_id="c"
    )
    pending = pending_from_open_order(order)
    assert pending.key == "CM:BTCUSD_PERP:42"
    assert (pending.order_id, pending.client_order_id, pending.in_flight) == ("42", "c", False)


def test_book_groups_and_finds_orders() -> None:
    book = PendingBook()
    assert book.add(PendingOrder("b", (BUY,), "2", "cb")) == {("UM", "BTCUSDT")}
    book.add(PendingOrder("a", (SELL, LoanLeg("BTC", "REPAY", None)), client_order_id="ca"))
    book.add(PendingOrder("loan", (LoanLeg("USDT", "BORROW", D(1)),), "9"))
    assert len(book) == 3
    assert "a" in book
    assert book.legs(("UM", "BTCUSDT")) == [SELL, BUY]  # sorted by order key: "a" < "b"
    assert book.legs(("UM", "BTCUSDT"), exclude="a") == [BUY]
    assert book.group_keys() == [("LOAN", "BTC"), ("LOAN", "USDT"), ("UM", "BTCUSDT")]
    assert book.groups_of("a") == {("UM", "BTCUSDT"), ("LOAN", "BTC")}
    assert book.groups_of("zzz") == set()
    assert book.find(OrderRef("UM", "BTCUSDT", "2")) == "b"
    assert book.find(OrderRef("UM", "BTCUSDT", "999", "ca")) == "a"
    assert book.find(OrderRef("UM", "ETHUSDT", "2")) is None
    assert book.find(OrderRef("UM", "BTCUSDT")) is None
    assert book.order("b") is not None
    assert book.remove("a") == {("UM", "BTCUSDT"), ("LOAN", "BTC")}
    assert book.find(OrderRef("UM", "BTCUSDT", None, "ca")) is None
    assert book.remove("b") == {("UM", "BTCUSDT")}
    assert book.legs(("UM", "BTCUSDT")) == []


def test_capped_legs_fill_first() -> None:
    assert capped_first([BUY, CLOSE, LoanLeg("USDT", "BORROW", D(1)), SELL])[0] == CLOSE


def test_worst_side_is_chosen_by_score() -> None:
    # long 1; pending: SELL 3 (flip to short 2) vs BUY 1 (long 2). Both give 80,000 notional
    # (MM 350) but the SELL side's fees are 3× → it is the worse one.
    r = risk(usdt(um=10_000), positions=(pos("BTCUSDT", 1, 40_000),))
    three = OrderLeg("UM", "BTCUSDT", "SELL", D(3), at_market=True)
    effect = worst_effect(r, ("UM", "BTCUSDT"), [BUY, three])
    assert [p.amount for p in effect.positions] == [-2]
    # no pending: the candidate alone; nothing at all: no effect
    assert worst_effect(r, ("UM", "BTCUSDT"), [], [BUY]).positions[0].amount == 2
    assert worst_effect(r, ("UM", "BTCUSDT"), []).deltas == {}


def test_reduce_only_fills_before_plain_orders_on_the_same_side() -> None:
    # long 1; reduce-only close then plain SELL 2 → short 2 (not short 1)
    r = risk(usdt(um=10_000), positions=(pos("BTCUSDT", 1, 40_000),))
    two = OrderLeg("UM", "BTCUSDT", "SELL", D(2), at_market=True)
    effect = worst_effect(r, ("UM", "BTCUSDT"), [two, CLOSE])
    assert [p.amount for p in effect.positions] == [-2]
