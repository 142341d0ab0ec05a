"""UM algo (conditional) orders: triggers on the mark, closePosition, immediate-trigger refusal."""

from __future__ import annotations

from decimal import Decimal

from margin_gate.paper import algo
from margin_gate.paper.engine import PriceUpdate
from margin_gate.wire.errors import BinanceError
from tests.unit.paper.conftest import MakeExchange
from tests.unit.paper.conftest import sink

D = Decimal


def test_stop_market_close_position_closes_the_whole_position(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    stop = algo.place(
        ex,
        {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET"}
        | {"triggerPrice": "48000", "closePosition": "true"},
    )
    assert isinstance(stop, algo.AlgoOrder)
    assert stop.status == "NEW"

    ex.set_prices([PriceUpdate(symbol="BTCUSDT", mark=D(48500))])
    assert stop.status == "NEW"
    ex.set_prices([PriceUpdate(symbol="BTCUSDT", mark=D(47990))])

    assert stop.status == "FINISHED"
    assert stop.order is not None
    assert stop.order.executed_qty == D(2)
    assert stop.order.reduce_only
    assert ex.ledger.position("UM", "BTCUSDT", "BOTH").amount == 0
    assert [e["ao"]["X"] for e in sink(ex).of("ALGO_UPDATE")] == ["NEW", "TRIGGERED", "FINISHED"]


def test_take_profit_that_would_trigger_now_is_refused(make_exchange: MakeExchange) -> None:
    ex = make_exchange()

    result = algo.place(
        ex,
        {"symbol": "BTCUSDT", "side": "SELL", "type": "TAKE_PROFIT_MARKET"}
        | {"triggerPrice": "49000", "quantity": "1"},
    )

    assert isinstance(result, BinanceError)
    assert result.code == -2021


def test_cancel_algo(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    stop = algo.place(
        ex,
        {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET"}
        | {"triggerPrice": "52000", "quantity": "1", "clientAlgoId": "mine"},
    )
    assert isinstance(stop, algo.AlgoOrder)

    cancelled = algo.cancel(ex, {"clientAlgoId": "mine"})

    assert cancelled is stop
    assert stop.status == "CANCELED"
    assert not ex.algos.open
