"""parse_intent: every gated route, exact numbers, and Binance's error codes for bad input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from margin_gate.margin import ORDER_ROUTES
from margin_gate.margin import LoanLeg
from margin_gate.margin import OrderLeg
from margin_gate.margin import OrderRef
from margin_gate.margin import parse_intent
from margin_gate.wire.errors import BinanceError
from tests.unit.margin.builders import INSTRUMENTS
from tests.unit.margin.builders import intent

D = Decimal


def parse(path: str, method: str = "POST", **params: str) -> object:
    return parse_intent(method, path, params, INSTRUMENTS)


def error(path: str, method: str = "POST", **params: str) -> BinanceError:
    found = parse(path, method, **params)
    assert isinstance(found, BinanceError), found
    return found


def only_leg(path: str, method: str = "POST", **params: str) -> OrderLeg:
    (leg,) = intent(path, method, **params).legs
    assert isinstance(leg, OrderLeg)
    return leg


UM = "/papi/v1/um/order"
BUY_1 = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}


def test_route_table_lists_every_gated_endpoint() -> None:
    assert len(ORDER_ROUTES) == 22
    assert ORDER_ROUTES[("PUT", "/dapi/v1/order")] == "cm_modify"
    assert ORDER_ROUTES[("POST", "/api/v3/order")] == "spot_order"


def test_unknown_route_is_the_gateways_bug() -> None:
    with pytest.raises(ValueError, match="not an order route"):
        parse("/papi/v1/um/leverage")


def test_numbers_keep_their_exact_text() -> None:
    leg = only_leg(
        UM, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1e-03", price="30000.0"
    )
    assert leg.quantity == D("0.001")
    assert leg.price == D("30000.0")
    assert (leg.at_market, leg.reduce_only, leg.position_side) == (False, False, "BOTH")


def test_lowercase_method_and_symbol_are_accepted() -> None:
    found = parse_intent("post", UM, {**BUY_1, "symbol": "btcusdt"}, INSTRUMENTS)
    assert not isinstance(found, BinanceError)
    assert found.legs[0].key == ("UM", "BTCUSDT")


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"side": "BUY", "type": "MARKET", "quantity": "1"}, -1102, "'symbol'"),
        ({**BUY_1, "symbol": "BTC/USDT"}, -1100, "'symbol'"),
        ({**BUY_1, "symbol": "DOGEUSDT"}, -1121, "Invalid symbol"),
        ({**BUY_1, "side": ""}, -1102, "'side'"),
        ({**BUY_1, "side": "HOLD"}, -1117, "Invalid side"),
        ({**BUY_1, "type": ""}, -1102, "'type'"),
        ({**BUY_1, "type": "STOP_MARKET"}, -1116, "Invalid orderType"),
        ({**BUY_1, "quantity": ""}, -1102, "'quantity'"),
        ({**BUY_1, "quantity": "NaN"}, -1100, "'quantity'"),
        ({**BUY_1, "quantity": "Infinity"}, -1100, "'quantity'"),
        ({**BUY_1, "quantity": "1,5"}, -1100, "'quantity'"),
        ({**BUY_1, "quantity": "1.2.3"}, -1102, "not a number"),
        ({**BUY_1, "quantity": "0"}, -1102, "greater than zero"),
        ({**BUY_1, "quantity": "-1"}, -1102, "greater than zero"),
        ({**BUY_1, "quantity": "1e25"}, -1102, "too large"),
        ({**BUY_1, "quantity": "0.0015"}, -1111, "multiple of 0.001"),
        ({**BUY_1, "quantity": "1e-21"}, -1111, "Precision"),
        ({**BUY_1, "type": "LIMIT"}, -1102, "'price'"),
        ({**BUY_1, "type": "LIMIT", "price": "40000.05"}, -1111, "'price'"),
        ({**BUY_1, "reduceOnly": "yes"}, -1102, "'reduceOnly'"),
        ({**BUY_1, "positionSide": "UP"}, -1102, "'positionSide'"),
    ],
)
def test_bad_input_answers_like_binance(params: dict[str, str], code: int, text: str) -> None:
    found = error(UM, **params)
    assert found.code == code
    assert text in found.msg


def test_precision_without_a_step_allows_up_to_20_decimals() -> None:
    assert only_leg(
        "/papi/v1/marginLoan".replace("marginLoan", "um/order"),
        **{**BUY_1, "symbol": "ETHUSDT", "quantity": "0.001"},
    ).quantity == D("0.001")
    found = parse("/papi/v1/marginLoan", asset="USDT", amount="0.000000000000000000001")
    assert isinstance(found, BinanceError)
    assert found.code == -1111


def test_flags_are_case_insensitive_and_close_position_means_whole_position() -> None:
    leg = only_leg(
        "/fapi/v1/algoOrder",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        triggerPrice="38000",
        closePosition="TRUE",
        quantity="5",
    )
    assert (leg.quantity, leg.reduce_only, leg.price, leg.at_market) == (
        None,
        True,
        D(38_000),
        True,
    )
    leg = only_leg(UM, **BUY_1, reduceOnly="False")
    assert leg.reduce_only is False


def test_price_match_drops_the_limit_price() -> None:
    leg = only_leg(UM, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", priceMatch="QUEUE")
    assert (leg.price, leg.at_market) == (None, True)
    leg = only_leg(
        UM, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="1", price="1", priceMatch="NONE"
    )
    assert (leg.price, leg.at_market) == (D(1), False)


def test_conditional_routes_read_their_own_parameter_names() -> None:
    legacy = intent(
        "/papi/v1/um/conditional/order",
        symbol="BTCUSDT",
        side="BUY",
        strategyType="TAKE_PROFIT",
        quantity="1",
        price="39000",
        stopPrice="39500",
    )
    assert legacy.kind == "conditional"
    assert legacy.legs[0] == OrderLeg("UM", "BTCUSDT", "BUY", D(1), D(39_000))
    trailing = intent(
        "/papi/v1/cm/conditional/order",
        symbol="BTCUSD_PERP",
        side="SELL",
        strategyType="TRAILING_STOP_MARKET",
        quantity="3",
        callbackRate="0.5",
        activationPrice="41000",
    )
    assert trailing.legs[0] == OrderLeg(
        "CM", "BTCUSD_PERP", "SELL", D(3), D(41_000), True, D("0.005")
    )
    assert (
        error(
            "/papi/v1/um/algo/order", symbol="BTCUSDT", side="BUY", type="STOP_MARKET", quantity="1"
        ).code
        == -1102
    )
    assert (
        error(
            "/dapi/v1/algoOrder",
            symbol="BTCUSD_PERP",
            side="BUY",
            type="TRAILING_STOP_MARKET",
            quantity="1",
        ).code
        == -1102
    )
    assert (
        error(
            "/dapi/v1/algoOrder",
            symbol="BTCUSD_PERP",
            side="BUY",
            type="LIMIT",
            quantity="1",
            price="1",
        ).code
        == -1116
    )


def test_classic_order_routes_accept_stop_types_as_conditionals() -> None:
    i = intent(
        "/dapi/v1/order",
        symbol="BTCUSD_PERP",
        side="BUY",
        type="STOP_MARKET",
        quantity="2",
        stopPrice="41000",
    )
    assert (i.kind, i.route, i.legs[0].market) == ("conditional", "dapi_order", "CM")
    assert intent("/fapi/v1/order", **BUY_1).kind == "order"


def test_modify_needs_an_order_reference() -> None:
    i = intent(
        "/papi/v1/cm/order",
        "PUT",
        symbol="BTCUSD_PERP",
        side="SELL",
        quantity="3",
        price="41000",
        origClientOrderId="abc",
    )
    assert i.kind == "modify"
    assert i.replaces == OrderRef("CM", "BTCUSD_PERP", None, "abc")
    assert (
        error(
            "/papi/v1/um/order", "PUT", symbol="BTCUSDT", side="BUY", quantity="1", price="1"
        ).msg.count("'orderId'")
        == 1
    )
    assert (
        error("/papi/v1/um/order", "PUT", symbol="BTCUSDT", side="BUY", orderId="1", price="1").code
        == -1102
    )


def test_batch_orders_parse_every_element_exactly() -> None:
    batch = json.dumps(
        [
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.001",
                "price": "1",
            },
            {
                "symbol": "ETHUSDT",
                "side": "SELL",
                "type": "MARKET",
                "quantity": 0.1,
                "reduceOnly": True,
            },
        ]
    )
    i = intent("/fapi/v1/batchOrders", batchOrders=batch)
    assert i.kind == "batch"
    assert [leg.quantity for leg in i.legs] == [D("0.001"), D("0.1")]
    assert [isinstance(leg, OrderLeg) and leg.reduce_only for leg in i.legs] == [False, True]
    cm = intent(
        "/dapi/v1/batchOrders",
        batchOrders='[{"symbol":"BTCUSD_PERP","side":"BUY","type":"MARKET","quantity":7}]',
    )
    assert cm.legs[0].quantity == 7


@pytest.mark.parametrize(
    ("batch", "text"),
    [
        (None, "'batchOrders'"),
        ("not json", "not valid JSON"),
        ('[{"quantity": NaN}]', "not valid JSON"),
        ("{}", "list of 1 to 5"),
        ("[]", "list of 1 to 5"),
        (json.dumps([{"symbol": "BTCUSDT"}] * 6), "list of 1 to 5"),
        ("[1]", "must be an object"),
        ('[{"symbol": null}]', "'symbol' must be a string"),
        ('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET"}]', "'quantity'"),
    ],
)
def test_bad_batches_are_refused_whole(batch: str | None, text: str) -> None:
    params = {} if batch is None else {"batchOrders": batch}
    found = error("/fapi/v1/batchOrders", **params)
    assert found.code == -1102
    assert text in found.msg


def test_margin_orders() -> None:
    leg = only_leg(
        "/sapi/v1/margin/order",
        symbol="ETHUSDT",
        side="SELL",
        type="MARKET",
        quoteOrderQty="100",
        sideEffectType="AUTO_REPAY",
    )
    assert (leg.quantity, leg.quote_quantity, leg.side_effect) == (None, D(100), "AUTO_REPAY")
    stop = only_leg(
        "/papi/v1/margin/order",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS",
        quantity="1",
        stopPrice="38000",
    )
    assert (stop.price, stop.at_market) == (D(38_000), True)
    stop_limit = only_leg(
        "/papi/v1/margin/order",
        symbol="BTCUSDT",
        side="SELL",
        type="TAKE_PROFIT_LIMIT",
        quantity="1",
        stopPrice="45000",
        price="44000",
    )
    assert (stop_limit.price, stop_limit.at_market) == (D(44_000), False)
    spot = only_leg(
        "/api/v3/order",
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        quantity="1",
        price="39000",
        sideEffectType="MARGIN_BUY",
    )
    assert spot.side_effect == "NO_SIDE_EFFECT"


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"type": "MARKET"}, "'quoteOrderQty'"),
        ({"type": "LIMIT", "price": "1"}, "'quantity'"),
        ({"type": "STOP_LOSS", "quantity": "1"}, "'stopPrice'"),
        ({"type": "MARKET", "quantity": "1", "sideEffectType": "BORROW"}, "'sideEffectType'"),
        ({"type": "STOP_MARKET", "quantity": "1"}, "Invalid orderType"),
        ({"type": "MARKET", "quantity": "1", "symbol": "XYZ"}, "Invalid symbol"),
        ({"type": "MARKET", "quantity": "1", "side": "X"}, "Invalid side"),
    ],
)
def test_bad_margin_orders(params: dict[str, str], text: str) -> None:
    assert (
        text in error("/papi/v1/margin/order", **{"symbol": "BTCUSDT", "side": "BUY", **params}).msg
    )


def test_margin_oco_has_two_exclusive_alternatives() -> None:
    i = intent(
        "/papi/v1/margin/order/oco",
        symbol="BTCUSDT",
        side="BUY",
        quantity="1",
        price="39000",
        stopPrice="41000",
        stopLimitPrice="41500",
        sideEffectType="MARGIN_BUY",
    )
    limit, stop = (alt[0] for alt in i.alternatives)
    assert isinstance(limit, OrderLeg)
    assert isinstance(stop, OrderLeg)
    assert (limit.price, stop.price, stop.side_effect) == (D(39_000), D(41_500), "MARGIN_BUY")
    oco = "/papi/v1/margin/order/oco"
    base = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "1"}
    assert "'sideEffectType'" in error(oco, **base, sideEffectType="X").msg
    assert "'price'" in error(oco, **base, stopPrice="1").msg
    assert "'stopPrice'" in error(oco, **base, price="1").msg


def test_loans() -> None:
    borrow = intent("/papi/v1/marginLoan", asset="usdt", amount="100")
    assert (borrow.kind, borrow.legs) == ("borrow", (LoanLeg("USDT", "BORROW", D(100)),))
    repay = intent("/papi/v1/repayLoan", asset="BTC", amount="0.5")
    assert repay.legs == (LoanLeg("BTC", "REPAY", D("0.5")),)
    debt = intent("/papi/v1/margin/repay-debt", asset="BTC")
    assert debt.legs == (LoanLeg("BTC", "REPAY", None),)
    assert error("/papi/v1/marginLoan", asset="USDT").code == -1102
    assert error("/papi/v1/repayLoan", amount="1").code == -1102
    assert error("/papi/v1/marginLoan", asset="USDT", amount="-1").code == -1102
