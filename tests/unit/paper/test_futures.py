"""Futures matching on the engine: fills, fees, realized PnL, resting orders, position rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.paper import futures
from margin_gate.paper.engine import PriceUpdate
from margin_gate.paper.orders import Order
from margin_gate.wire.errors import BinanceError
from tests.unit.paper import states
from tests.unit.paper.conftest import MakeExchange
from tests.unit.paper.conftest import sink

D = Decimal


def order(ex, kind="UM", **params: str) -> Order:  # type: ignore[no-untyped-def]
    result = futures.place(ex, kind, params)
    assert isinstance(result, Order), result
    return result


def error(ex, kind="UM", **params: str) -> BinanceError:  # type: ignore[no-untyped-def]
    result = futures.place(ex, kind, params)
    assert isinstance(result, BinanceError), result
    return result


def test_market_buy_fills_at_mark_plus_spread_and_charges_taker_fee(
    make_exchange: MakeExchange,
) -> None:
    ex = make_exchange(matching__spread="0.001")

    o = order(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1")

    assert o.status == "FILLED"
    assert o.avg_price == D("50050")  # 50,000 × 1.001
    pos = ex.ledger.position("UM", "BTCUSDT", "BOTH")
    assert pos.amount == D(3)
    assert pos.entry_price == (D(2) * 50000 + D(50050)) / 3
    assert ex.ledger.balance("USDT").um_wallet == D(10000) - D("50050") * D("0.0005")


def test_market_sell_rounds_the_price_down_to_the_tick(make_exchange: MakeExchange) -> None:
    ex = make_exchange(matching__spread="0.0000123")

    o = order(ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.5")

    assert o.avg_price == D("49999.3")  # 49,999.385 floored to the 0.1 tick


def test_reducing_fill_realizes_pnl_into_the_um_wallet(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    ex.set_prices([PriceUpdate(symbol="BTCUSDT", mark=D(51000))])

    o = order(ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.5")

    assert o.fills[0].realized == D(500)
    fee = D("0.5") * 51000 * D("0.0005")
    assert ex.ledger.balance("USDT").um_wallet == D(10000) + 500 - fee
    assert ex.ledger.position("UM", "BTCUSDT", "BOTH").entry_price == D(50000)


def test_one_way_flip_opens_the_rest_at_the_fill_price(make_exchange: MakeExchange) -> None:
    ex = make_exchange()

    order(ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="3")

    pos = ex.ledger.position("UM", "BTCUSDT", "BOTH")
    assert (pos.amount, pos.entry_price) == (D(-1), D(50000))


def test_fill_streams_order_update_then_account_update_with_the_same_T(
    make_exchange: MakeExchange,
) -> None:
    ex = make_exchange()

    order(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")

    new, trade, account = sink(ex).events
    assert (new["e"], new["o"]["x"]) == ("ORDER_TRADE_UPDATE", "NEW")
    assert (trade["o"]["x"], trade["o"]["X"], trade["o"]["l"]) == ("TRADE", "FILLED", "0.100")
    assert account["e"] == "ACCOUNT_UPDATE"
    assert account["a"]["m"] == "ORDER"
    assert account["T"] == trade["T"] == trade["o"]["T"]
    assert account["a"]["P"][0]["pa"] == "2.1"


def test_resting_limit_fills_as_maker_when_the_price_crosses(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    o = order(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="1",
        price="49000",
        timeInForce="GTC",
    )
    assert o.status == "NEW"

    ex.set_prices([PriceUpdate(base="BTC", price=D(49500))])
    assert o.status == "NEW"
    ex.set_prices([PriceUpdate(base="BTC", price=D(48950))])

    assert o.status == "FILLED"
    assert o.fills[0].price == D(49000)
    assert o.fills[0].maker
    assert o.fills[0].commission == D(49000) * D("0.0002")


def test_marketable_limit_fills_at_the_taker_price_not_the_limit(
    make_exchange: MakeExchange,
) -> None:
    ex = make_exchange()

    o = order(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="1",
        price="51000",
        timeInForce="GTC",
    )

    assert o.status == "FILLED"
    assert o.avg_price == D(50000)


@pytest.mark.parametrize(
    ("tif", "code"),
    [("GTX", -5022), ("FOK", None), ("IOC", None)],
)
def test_time_in_force_rules(make_exchange: MakeExchange, tif: str, code: int | None) -> None:
    ex = make_exchange()
    marketable = futures.place(
        ex,
        "UM",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1"}
        | {"price": "50000", "timeInForce": tif},
    )
    if code is not None:
        assert isinstance(marketable, BinanceError)
        assert marketable.code == code
    else:
        assert isinstance(marketable, Order)
        assert marketable.status == "FILLED"


def test_ioc_that_cannot_fill_expires_and_fok_is_rejected(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1000"}

    ioc = futures.place(ex, "UM", params | {"timeInForce": "IOC"})
    fok = futures.place(ex, "UM", params | {"timeInForce": "FOK"})

    assert isinstance(ioc, Order)
    assert ioc.status == "EXPIRED"
    assert isinstance(fok, BinanceError)
    assert fok.code == -5021


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOPE"}, -1121),
        ({"side": "UP"}, -1117),
        ({"type": "STOP_MARKET"}, -4120),
        ({"quantity": "0.0015"}, -1111),
        ({"quantity": "0"}, -4003),
        ({"symbol": "ETHUSDT", "quantity": "0.001"}, -4164),  # 3 USDT < 5 min notional
        ({"positionSide": "LONG"}, -4061),
        ({"type": "LIMIT", "price": "50000.05", "timeInForce": "GTC"}, -4014),
        ({"type": "LIMIT", "timeInForce": "GTC"}, -1102),
        ({"newClientOrderId": "bad id!"}, -4015),
    ],
)
def test_order_validation_errors(
    make_exchange: MakeExchange, params: dict[str, str], code: int
) -> None:
    ex = make_exchange()
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}

    assert error(ex, **(base | params)).code == code


def test_reduce_only_is_rejected_without_an_opposite_position(make_exchange: MakeExchange) -> None:
    ex = make_exchange()

    e = error(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1", reduceOnly="true")

    assert (e.code, e.msg) == (-2022, "ReduceOnly Order is rejected.")


def test_reduce_only_larger_than_the_position_fills_the_position_and_expires_the_rest(
    make_exchange: MakeExchange,
) -> None:
    ex = make_exchange()

    o = order(ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="5", reduceOnly="true")

    assert (o.executed_qty, o.status) == (D(2), "EXPIRED")
    assert ex.ledger.position("UM", "BTCUSDT", "BOTH").amount == 0


def test_hedge_mode_legs_and_closing_rules(make_exchange: MakeExchange) -> None:
    data = states.simple()
    data["account"]["dual_side_position"] = True
    data["account"]["um_positions"] = []
    ex = make_exchange(data)

    order(ex, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1", positionSide="LONG")
    order(ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="2", positionSide="SHORT")
    too_much = error(
        ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="2", positionSide="LONG"
    )
    both = error(ex, symbol="BTCUSDT", side="SELL", type="MARKET", quantity="1")

    assert ex.ledger.position("UM", "BTCUSDT", "LONG").amount == D(1)
    assert ex.ledger.position("UM", "BTCUSDT", "SHORT").amount == D(-2)
    assert too_much.code == -2022  # closing more than the LONG leg holds
    assert both.code == -4061  # hedge mode needs LONG or SHORT
    e = error(
        ex,
        symbol="BTCUSDT",
        side="SELL",
        type="MARKET",
        quantity="1",
        positionSide="LONG",
        reduceOnly="true",
    )
    assert e.code == -1106


def test_cm_inverse_pnl_and_coin_fees(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    ex.ledger.balance("BTC").cm_wallet = D(1)

    order(ex, "CM", symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="100")
    ex.set_prices([PriceUpdate(symbol="BTCUSD_PERP", mark=D(40000))])
    o = order(ex, "CM", symbol="BTCUSD_PERP", side="SELL", type="MARKET", quantity="100")

    # 100 contracts × 100 USD × (1/50,000 − 1/40,000) = −0.05 BTC
    assert o.fills[0].realized == D("-0.05")
    fees = D(10000) / 50000 * D("0.0004") + D(10000) / 40000 * D("0.0004")
    assert ex.ledger.balance("BTC").cm_wallet == D(1) - D("0.05") - fees
    assert o.cum_quote == D("0.25")  # cumBase in BTC


def test_cancel_modify_and_query(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    o = order(
        ex,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="1",
        price="45000",
        timeInForce="GTC",
    )

    modified = futures.modify(
        ex,
        "UM",
        {"symbol": "BTCUSDT", "orderId": str(o.order_id), "side": "BUY"}
        | {"quantity": "2", "price": "46000"},
    )
    assert isinstance(modified, Order)
    assert (o.quantity, o.price) == (D(2), D(46000))
    found = futures.find(ex, "UM", {"symbol": "BTCUSDT", "origClientOrderId": o.client_order_id})
    assert found is o
    cancelled = futures.cancel(ex, "UM", {"symbol": "BTCUSDT", "orderId": str(o.order_id)})
    assert isinstance(cancelled, Order)
    assert cancelled.status == "CANCELED"
    again = futures.cancel(ex, "UM", {"symbol": "BTCUSDT", "orderId": str(o.order_id)})
    assert isinstance(again, BinanceError)
    assert again.code == -2011
