"""Cross-margin orders and loans on the engine: balances, side effects, locks, events."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from margin_gate.paper import margin
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.engine import PriceUpdate
from margin_gate.paper.orders import Order
from margin_gate.wire.errors import BinanceError
from tests.unit.paper import states
from tests.unit.paper.conftest import MakeExchange
from tests.unit.paper.conftest import sink

D = Decimal


def funded(make_exchange: MakeExchange, **balances: Any) -> PaperExchange:
    data = states.simple()
    table: dict[str, dict[str, str]] = {"USDT": {"um_wallet_balance": "10000"}}
    for asset, amount in balances.items():
        table.setdefault(asset, {})["cross_margin_asset"] = amount
    data["account"]["balances"] = table
    return make_exchange(data)


def place(ex: PaperExchange, **params: str) -> Order | BinanceError:
    return margin.place(ex, params)


def test_buy_without_funds_is_refused_with_binance_text(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="100")

    result = place(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")

    assert isinstance(result, BinanceError)
    assert (result.code, result.msg) == (
        -2010,
        "Account has insufficient balance for requested action.",
    )


def test_market_buy_pays_quote_and_charges_commission_in_base(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="1000")

    o = place(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")

    assert isinstance(o, Order)
    assert o.status == "FILLED"
    assert ex.ledger.balance("USDT").free == D(500)  # 0.01 × 50,000
    assert ex.ledger.balance("BTC").free == D("0.01") - D("0.00001")
    kinds = [e["e"] for e in sink(ex).events]
    assert kinds == ["executionReport", "executionReport", "outboundAccountPosition"]
    assert sink(ex).events[1]["x"] == "TRADE"
    assert sink(ex).events[1]["N"] == "BTC"


def test_margin_buy_borrows_the_shortfall(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="100")

    o = place(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.01",
        sideEffectType="MARGIN_BUY",
    )

    assert isinstance(o, Order)
    assert o.borrowed == D(400)
    usdt = ex.ledger.balance("USDT")
    assert (usdt.borrowed, usdt.free) == (D(400), D(0))
    change = sink(ex).of("liabilityChange")[0]
    assert (change["a"], change["t"], change["p"], change["l"]) == (
        "USDT",
        "BORROW",
        "400.00000000",
        "400.00000000",
    )
    assert ex.risk().assets["USDT"].margin_mm == D(40)  # 10% loan MMR


def test_auto_repay_uses_the_proceeds(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, BTC="0.02")
    ex.ledger.balance("USDT").borrowed = D(300)

    o = place(
        ex,
        symbol="BTCUSDT",
        side="SELL",
        type="MARKET",
        quantity="0.01",
        sideEffectType="AUTO_REPAY",
    )

    assert isinstance(o, Order)
    usdt = ex.ledger.balance("USDT")
    assert usdt.borrowed == 0
    assert usdt.free == D(500) - D("0.5") - D(300)  # proceeds − 0.1% commission − repaid


def test_resting_limit_locks_then_fills_or_unlocks(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="1000")
    usdt = ex.ledger.balance("USDT")

    first = place(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.01",
        price="48000",
        timeInForce="GTC",
    )
    second = place(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.01",
        price="47000",
        timeInForce="GTC",
    )
    assert isinstance(first, Order)
    assert isinstance(second, Order)
    assert (usdt.free, usdt.locked) == (D(50), D(950))

    ex.set_prices([PriceUpdate(asset="BTC", index=D(47900))])
    assert first.status == "FILLED"
    assert first.fills[0].maker
    cancelled = margin.cancel(ex, {"symbol": "BTCUSDT", "orderId": str(second.order_id)})

    assert isinstance(cancelled, Order)
    assert cancelled.status == "CANCELED"
    assert (usdt.free, usdt.locked) == (D(520), D(0))


def test_cancel_repays_what_the_order_borrowed(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="100")
    o = place(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.01",
        price="40000",
        timeInForce="GTC",
        sideEffectType="MARGIN_BUY",
    )
    assert isinstance(o, Order)
    assert o.borrowed == D(300)

    margin.cancel(ex, {"symbol": "BTCUSDT", "orderId": str(o.order_id)})

    usdt = ex.ledger.balance("USDT")
    assert (usdt.borrowed, usdt.free, usdt.locked) == (D(0), D(100), D(0))


def test_loan_and_repay(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="10")

    tran = margin.loan(ex, {"asset": "ETH", "amount": "1.5"})
    too_much = margin.repay_loan(ex, {"asset": "ETH", "amount": "2"})
    repaid = margin.repay_loan(ex, {"asset": "ETH", "amount": "1.5"})

    assert isinstance(tran, int)
    assert isinstance(repaid, int)
    assert isinstance(too_much, BinanceError)
    assert too_much.code == -3015
    assert ex.ledger.balance("ETH").borrowed == 0
    assert [e["t"] for e in sink(ex).of("liabilityChange")] == ["BORROW", "REPAY"]


def test_borrowing_that_would_reach_reduce_only_is_refused(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="10")
    # equity ≈ 10,010 + 9.5 (USDT) ; a 10% MMR loan of L adds 0.1·L to MM: refused once
    # equity <= 1.2 · (1,000 + 0.1·L), i.e. L >= ~73,400
    ok = margin.loan(ex, {"asset": "USDT", "amount": "50000"})
    refused = margin.loan(ex, {"asset": "USDT", "amount": "30000"})

    assert isinstance(ok, int)
    assert isinstance(refused, BinanceError)
    assert refused.code == -3006


def test_filters_answer_minus_1013(make_exchange: MakeExchange) -> None:
    ex = funded(make_exchange, USDT="1000")

    lot = place(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.000001")
    notional = place(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.00001")

    assert isinstance(lot, BinanceError)
    assert lot.msg == "Filter failure: LOT_SIZE"
    assert isinstance(notional, BinanceError)
    assert notional.msg == "Filter failure: NOTIONAL"
