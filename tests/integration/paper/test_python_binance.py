"""The paper exchange driven by an unmodified python-binance client, endpoint by endpoint.

Starting account (`integration_state`): UM wallet 10,000 USDT, 1,000 USDT cross-margin cash,
1 BTC in the CM wallet, long 2 BTCUSDT at 50,000; BTC at 50,000; no spread; 1% UM bracket.
    accountEquity = 11,000 + 1 × 50,000 × 0.95 = 58,500;  MM = 2 × 50,000 × 1% = 1,000
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from margin_gate.paper.numbers import fmt8
from tests.integration.paper.conftest import Control
from tests.integration.paper.conftest import pb_client

D = Decimal


def assert_risk(client: Client, equity: Decimal, mm: Decimal) -> Any:
    account = client.papi_get_account()
    assert D(account["accountEquity"]) == equity
    assert D(account["accountMaintMargin"]) == mm
    assert account["uniMMR"] == fmt8(equity / mm)
    return account


def test_public_endpoints(client: Client) -> None:
    # constructing the client already pinged /api/v3/ping
    assert client.get_server_time()["serverTime"] > 0
    assert client.futures_time()["serverTime"] > 0
    assert client.papi_ping() == {}
    symbols = {s["symbol"] for s in client.futures_exchange_info()["symbols"]}
    assert symbols == {"BTCUSDT", "ETHUSDT"}
    coin = client.futures_coin_exchange_info()["symbols"][0]
    assert (coin["symbol"], coin["contractSize"]) == ("BTCUSD_PERP", 100)
    spot = client.get_exchange_info()["symbols"]
    assert {s["symbol"] for s in spot} == {"BTCUSDT", "ETHUSDT"}
    mark = client.futures_mark_price(symbol="BTCUSDT")
    assert (mark["markPrice"], mark["lastFundingRate"]) == ("50000.00000000", "0.00010000")
    assert client.futures_coin_mark_price(symbol="BTCUSD_PERP")[0]["pair"] == "BTCUSD"
    rates = client._request_margin_api("get", "portfolio/collateralRate", False)
    assert {"asset": "BTC", "collateralRate": "0.9500"} in rates
    index = client._request_margin_api(
        "get", "portfolio/asset-index-price", False, data={"asset": "BTC"}
    )
    assert index[0]["assetIndexPrice"] == "50000.00000000"


def test_account_balance_and_positions(client: Client) -> None:
    account = assert_risk(client, D(58500), D(1000))
    assert account["accountStatus"] == "NORMAL"
    assert D(account["actualEquity"]) == D(61000)
    usdt = client.papi_get_balance(asset="USDT")
    assert (usdt["umWalletBalance"], usdt["crossMarginFree"]) == ("10000.00000000", "1000.00000000")
    [pos] = client.papi_get_um_position_risk(symbol="BTCUSDT")
    assert (pos["positionAmt"], pos["entryPrice"], pos["positionSide"]) == (
        "2.000",
        "50000",
        "BOTH",
    )
    assert client.papi_get_cm_position_risk() == []
    pro = client._request_margin_api("get", "portfolio/account", True, data={})
    assert (pro["uniMMR"], pro["accountStatus"]) == (account["uniMMR"], "NORMAL")


def test_um_market_order_fills_and_moves_balance_position_and_uni_mmr(client: Client) -> None:
    order = client.papi_create_um_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.5", newOrderRespType="RESULT"
    )

    assert (order["status"], order["avgPrice"], order["executedQty"]) == (
        "FILLED",
        "50000.00000000",
        "0.500",
    )
    [pos] = client.papi_get_um_position_risk(symbol="BTCUSDT")
    assert pos["positionAmt"] == "2.500"
    fee = D("0.5") * 50000 * D("0.0005")
    assert D(client.papi_get_balance(asset="USDT")["umWalletBalance"]) == 10000 - fee
    assert_risk(client, D(58500) - fee, D(1250))


def test_ack_is_the_default_response_for_futures(client: Client) -> None:
    ack = client.papi_create_um_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="1")
    queried = client.papi_get_um_order(symbol="BTCUSDT", orderId=ack["orderId"])

    assert (ack["status"], ack["executedQty"]) == ("NEW", "0.000")
    assert (queried["status"], queried["executedQty"]) == ("FILLED", "1.000")
    assert_risk(client, D(58500) - 25, D(500))


def test_um_limit_order_rests_is_modified_and_cancelled(client: Client) -> None:
    order = client.papi_create_um_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="49000"
    )
    assert order["status"] == "NEW"
    [listed] = client.papi_get_um_open_orders(symbol="BTCUSDT")
    assert listed["orderId"] == order["orderId"]

    modified = client.papi_modify_um_order(
        symbol="BTCUSDT", orderId=order["orderId"], side="BUY", quantity="1.5", price="48000"
    )
    assert (modified["price"], modified["origQty"]) == ("48000.0", "1.500")
    cancelled = client.papi_cancel_um_order(symbol="BTCUSDT", orderId=order["orderId"])

    assert cancelled["status"] == "CANCELED"
    assert client.papi_get_um_open_orders() == []
    assert_risk(client, D(58500), D(1000))  # resting orders do not move uniMMR


def test_resting_limit_fills_when_the_control_api_moves_the_price(
    client: Client, control: Control
) -> None:
    order = client.papi_create_um_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="49000"
    )

    control.price(base="BTC", price="48900")

    filled = client.papi_get_um_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert (filled["status"], filled["avgPrice"]) == ("FILLED", "49000.00000000")
    [pos] = client.papi_get_um_position_risk(symbol="BTCUSDT")
    assert pos["positionAmt"] == "3.000"
    # PnL at 48,900: 2 × −1,100 + 1 × −100; maker fee 9.8; BTC collateral at 48,900
    equity = 11000 - 2300 - D("9.8") + D(48900) * D("0.95")
    assert_risk(client, equity, 3 * D(48900) * D("0.01"))


def test_cancel_all_um_orders(client: Client) -> None:
    for price in ("48000", "47000"):
        client.papi_create_um_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price=price
        )

    answer = client.papi_cancel_um_all_open_orders(symbol="BTCUSDT")

    assert answer == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert client.papi_get_um_open_orders(symbol="BTCUSDT") == []


def test_cm_order_uses_contracts_and_the_coin_wallet(client: Client) -> None:
    order = client.papi_create_cm_order(
        symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="10", newOrderRespType="RESULT"
    )

    assert (order["status"], order["cumBase"], order["pair"]) == ("FILLED", "0.02000000", "BTCUSD")
    [pos] = client.papi_get_cm_position_risk(marginAsset="BTC")
    assert (pos["positionAmt"], pos["notionalValue"]) == ("10", "0.02000000")
    fee = D("0.02") * D("0.0004")
    assert D(client.papi_get_balance(asset="BTC")["cmWalletBalance"]) == 1 - fee
    # CM MM: 0.02 BTC × 0.5% × 50,000 = 5 USD
    assert_risk(client, D(58500) - fee * 50000 * D("0.95"), D(1005))


def test_margin_order_borrows_with_margin_buy_and_auto_repays(client: Client) -> None:
    order = client.papi_create_margin_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.03", sideEffectType="MARGIN_BUY"
    )

    assert (order["status"], order["marginBuyBorrowAmount"], order["marginBuyBorrowAsset"]) == (
        "FILLED",
        "500.00000000",
        "USDT",
    )
    assert order["fills"][0]["commissionAsset"] == "BTC"
    usdt = client.papi_get_balance(asset="USDT")
    assert (usdt["crossMarginBorrowed"], usdt["crossMarginFree"]) == ("500.00000000", "0.00000000")
    btc_held = D("0.03") - D("0.00003")
    # USDT equity 11,000 − 1,500 spent; BTC 1 + 0.02997 at 95%; loan MM 500 × 10%
    assert_risk(client, 9500 + (1 + btc_held) * 50000 * D("0.95"), D(1050))

    sold = client.papi_create_margin_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.02", sideEffectType="AUTO_REPAY"
    )

    assert sold["status"] == "FILLED"
    usdt = client.papi_get_balance(asset="USDT")
    assert usdt["crossMarginBorrowed"] == "0.00000000"
    assert usdt["crossMarginFree"] == "499.00000000"  # 1,000 − 1 commission − 500 repaid


def test_margin_without_funds_is_refused(client: Client) -> None:
    with pytest.raises(BinanceAPIException) as caught:
        client.papi_create_margin_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1")

    assert (caught.value.code, caught.value.status_code) == (-2010, 400)
    assert caught.value.message == "Account has insufficient balance for requested action."


def test_margin_loan_and_repay(client: Client) -> None:
    loan = client.papi_margin_loan(asset="ETH", amount="2")
    assert isinstance(loan["tranId"], int)
    eth = client.papi_get_balance(asset="ETH")
    assert (eth["crossMarginBorrowed"], eth["crossMarginFree"]) == ("2.00000000", "2.00000000")
    assert_risk(client, D(58500), D(1000) + 2 * D(3000) * D("0.1"))

    client.papi_repay_loan(asset="ETH", amount="2")

    assert client.papi_get_balance(asset="ETH")["crossMarginBorrowed"] == "0.00000000"
    assert_risk(client, D(58500), D(1000))


def test_margin_limit_orders_query_and_cancel(client: Client) -> None:
    order = client.papi_create_margin_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="45000",
    )
    assert order["status"] == "NEW"
    assert client.papi_get_balance(asset="USDT")["crossMarginLocked"] == "450.00000000"
    open_orders = client._request_papi_api("get", "margin/openOrders", True, data={})
    assert [o["orderId"] for o in open_orders] == [order["orderId"]]

    cancelled = client.papi_cancel_margin_order(symbol="BTCUSDT", orderId=order["orderId"])

    assert cancelled["status"] == "CANCELED"
    assert client.papi_get_balance(asset="USDT")["crossMarginLocked"] == "0.00000000"


def test_classic_fapi_dapi_sapi_and_spot_orders(client: Client) -> None:
    fapi = client.futures_create_order(
        symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="3100"
    )
    assert client.futures_get_order(symbol="ETHUSDT", orderId=fapi["orderId"])["status"] == "NEW"
    assert [o["orderId"] for o in client.futures_get_open_orders()] == [fapi["orderId"]]
    assert client.futures_cancel_order(symbol="ETHUSDT", orderId=fapi["orderId"])["status"] == (
        "CANCELED"
    )
    dapi = client.futures_coin_create_order(
        symbol="BTCUSD_PERP", side="SELL", type="MARKET", quantity="5", newOrderRespType="RESULT"
    )
    assert dapi["status"] == "FILLED"
    sapi = client.create_margin_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert (sapi["status"], sapi["isIsolated"]) == ("FILLED", False)
    spot = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert (spot["status"], spot["orderListId"]) == ("FILLED", -1)
    usdt = client.papi_get_balance(asset="USDT")
    assert usdt["crossMarginFree"] == "900.00000000"  # two 50 USDT buys on the cross wallet
    [cm] = client.papi_get_cm_position_risk()
    assert cm["positionAmt"] == "-5"


def test_brackets_and_commission(client: Client) -> None:
    [um] = client.papi_get_um_leverage_bracket(symbol="BTCUSDT")
    assert um["brackets"][0] == {
        "bracket": 1,
        "initialLeverage": 50,
        "notionalCap": 100000000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.01,
        "cum": 0,
    }
    [cm] = client.papi_get_cm_leverage_bracket(symbol="BTCUSD_PERP")
    assert (cm["brackets"][0]["qtyCap"], cm["brackets"][0]["maintMarginRatio"]) == (100000, 0.005)
    assert client.papi_get_um_comission_rate(symbol="BTCUSDT") == {
        "symbol": "BTCUSDT",
        "makerCommissionRate": "0.0002",
        "takerCommissionRate": "0.0005",
    }
    assert (
        client.papi_get_cm_comission_rate(symbol="BTCUSD_PERP")["takerCommissionRate"] == "0.0004"
    )


def test_listen_key_lifecycle(client: Client) -> None:
    key = client.papi_stream_get_listen_key()

    assert client.papi_stream_get_listen_key() == key  # one active key, extended
    assert client.papi_stream_keepalive(key) == {}
    assert client.papi_stream_close(key) == {}
    with pytest.raises(BinanceAPIException) as caught:
        client.papi_stream_keepalive(key)
    assert caught.value.code == -1125


def test_manual_liquidation_sells_collateral_to_repay(client: Client) -> None:
    client.papi_margin_loan(asset="ETH", amount="1")
    client.papi_create_margin_order(
        symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1"
    )  # spend the borrowed ETH: 1 ETH debt left, 2,997 USDT more cash

    items = client.margin_manual_liquidation(type="MARGIN")

    assert [(i["asset"], i["liabilityAsset"]) for i in items] == [("ETH", "USDT")]
    assert (items[0]["principal"], items[0]["interest"]) == ("1.00000000", "0.00000000")
    assert items[0]["liabilityQty"] > 3000  # 1.001 ETH bought at 3,000 USDT
    eth = client.papi_get_balance(asset="ETH")
    assert eth["crossMarginBorrowed"] == "0.00000000"


def test_algo_close_position_stop(client: Client, control: Control) -> None:
    algo = client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_MARKET", stopPrice="48000", closePosition="true"
    )
    assert algo["algoStatus"] == "NEW"
    assert algo["closePosition"] is True

    control.price(base="BTC", price="47900")

    [pos] = client.papi_get_um_position_risk(symbol="BTCUSDT")
    assert pos["positionAmt"] == "0.000"


def test_bot_key_from_another_client_sees_the_same_account(
    paper_url: str, control: Control
) -> None:
    other = pb_client(paper_url)
    other.papi_create_um_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="2")

    assert pb_client(paper_url).papi_get_um_position_risk() == []


def test_cm_limit_order_open_query_modify_and_cancel_all(client: Client) -> None:
    order = client.papi_create_cm_order(
        symbol="BTCUSD_PERP",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="2",
        price="45000",
    )
    [listed] = client.papi_get_cm_open_orders(symbol="BTCUSD_PERP")
    assert listed["orderId"] == order["orderId"]

    modified = client.papi_modify_cm_order(
        symbol="BTCUSD_PERP", orderId=order["orderId"], side="BUY", quantity="3", price="44000"
    )
    queried = client.papi_get_cm_order(symbol="BTCUSD_PERP", orderId=order["orderId"])
    done = client.papi_cancel_cm_all_open_orders(symbol="BTCUSD_PERP")

    assert (modified["origQty"], modified["price"]) == ("3", "44000.0")
    assert (queried["status"], queried["cumBase"]) == ("NEW", "0.00000000")
    assert done["code"] == 200
    assert client.papi_get_cm_open_orders() == []


def test_um_single_open_order_query(client: Client) -> None:
    order = client.papi_create_um_order(
        symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="2500"
    )

    found = client.papi_get_um_open_order(symbol="ETHUSDT", orderId=order["orderId"])

    assert (found["orderId"], found["status"]) == (order["orderId"], "NEW")


def test_margin_and_spot_queries_and_cancel_all(client: Client) -> None:
    papi = client.papi_create_margin_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="40000",
    )
    sapi = client.create_margin_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="41000",
    )
    spot = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="42000",
    )
    assert (
        client.papi_get_margin_order(symbol="BTCUSDT", orderId=papi["orderId"])["status"] == "NEW"
    )
    assert len(client.papi_get_margin_open_orders(symbol="BTCUSDT")) == 3
    assert client.get_order(symbol="BTCUSDT", orderId=spot["orderId"])["isWorking"] is True
    assert len(client.get_open_margin_orders(symbol="BTCUSDT")) == 3

    assert client.cancel_order(symbol="BTCUSDT", orderId=spot["orderId"])["status"] == "CANCELED"
    cancelled = client.cancel_margin_order(symbol="BTCUSDT", orderId=sapi["orderId"])
    assert cancelled["isIsolated"] is False
    rest = client.papi_cancel_margin_all_open_orders(symbol="BTCUSDT")

    assert [o["orderId"] for o in rest] == [papi["orderId"]]
    assert client.get_open_orders(symbol="BTCUSDT") == []
    usdt = client.papi_get_balance(asset="USDT")
    assert (usdt["crossMarginFree"], usdt["crossMarginLocked"]) == ("1000.00000000", "0.00000000")


def test_leverage_position_mode_um_account_and_max_borrowable(client: Client) -> None:
    changed = client.papi_set_um_leverage(symbol="BTCUSDT", leverage=10)
    assert (changed["leverage"], changed["symbol"]) == (10, "BTCUSDT")
    assert client.papi_get_um_position_risk(symbol="BTCUSDT")[0]["leverage"] == "10"
    assert client.futures_change_leverage(symbol="ETHUSDT", leverage=5)["leverage"] == 5

    assert client.papi_get_um_position_side_dual() == {"dualSidePosition": False}
    with pytest.raises(BinanceAPIException) as caught:  # a position is open
        client.papi_change_um_position_side_dual(dualSidePosition="true")
    assert caught.value.code == -4068

    detail = client.papi_get_um_account()
    [position] = detail["positions"]
    assert (position["symbol"], position["maintMargin"]) == ("BTCUSDT", "1000.00000000")

    # room before uniMMR reaches 1.20: 58,500 / 1.2 − 1,000 = 47,750 USD of loan MM at 10%
    borrowable = client.papi_get_margin_max_borrowable(asset="USDT")
    assert borrowable["amount"] == "477500.00000000"
