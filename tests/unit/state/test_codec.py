"""Exchange JSON → model, and live state ⇄ JSON for Redis (exact round trips)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import order_leg
from margin_gate.state.codec import parse_account
from margin_gate.state.codec import parse_algo_open_orders
from margin_gate.state.codec import parse_balances
from margin_gate.state.codec import parse_futures_open_orders
from margin_gate.state.codec import parse_margin_open_orders
from margin_gate.state.codec import parse_positions
from margin_gate.state.codec_market import parse_brackets
from margin_gate.state.codec_market import parse_collateral_rates
from margin_gate.state.codec_market import parse_exchange_info
from margin_gate.state.codec_market import parse_premium_index
from margin_gate.state.data import AccountData
from margin_gate.state.events import apply_events
from margin_gate.state.numbers import CodecError
from margin_gate.state.reconcile import merge_load
from margin_gate.state.reservations import new_reservation
from margin_gate.state.serial import data_from_json
from margin_gate.state.serial import data_to_json
from margin_gate.state.serial import reservation_from_json
from margin_gate.state.serial import reservation_to_json
from margin_gate.state.serial import static_from_json
from margin_gate.state.serial import static_to_json
from tests.unit.state.builders import T0
from tests.unit.state.builders import load
from tests.unit.state.builders import otu

D = Decimal


def test_balances_keep_numbers_exact() -> None:
    raw = orjson.loads(
        b'[{"asset":"USDT","crossMarginAsset":"1000.00000001","crossMarginBorrowed":"0",'
        b'"crossMarginInterest":"0","crossMarginLocked":"2","umWalletBalance":"5000.1",'
        b'"cmWalletBalance":"0","updateTime":1700000000123}]'
    )
    balances, times = parse_balances(raw)
    assert balances["USDT"].cross_margin_asset == D("1000.00000001")
    assert balances["USDT"].cross_margin_locked == D(2)
    assert times == {"USDT": 1700000000123}


def test_positions_and_orders() -> None:
    rows = parse_positions(
        [
            {
                "symbol": "BTCUSDT",
                "positionAmt": "-0.5",
                "entryPrice": "50000.1",
                "markPrice": "49000",
                "positionSide": "BOTH",
                "updateTime": 5,
            }
        ],
        "UM",
    )
    assert rows[0].position.amount == D("-0.5")
    assert rows[0].mark == D(49000)
    orders = parse_futures_open_orders(
        {
            "symbol": "BTCUSDT",
            "orderId": 7,
            "side": "SELL",
            "type": "LIMIT",
            "origQty": "1",
            "executedQty": "0.25",
            "price": "51000",
            "stopPrice": "0",
            "positionSide": "BOTH",
            "reduceOnly": False,
            "clientOrderId": "x",
        },
        "UM",
    )
    assert orders[0].quantity == D("0.75")
    assert orders[0].stop_price is None
    algo = parse_algo_open_orders(
        {
            "orders": [
                {
                    "algoId": 3,
                    "clientAlgoId": "a",
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "orderType": "STOP_MARKET",
                    "quantity": "1",
                    "triggerPrice": "52000",
                    "positionSide": "BOTH",
                }
            ]
        }
    )
    assert algo[0].order_id == "algo:3"
    margin = parse_margin_open_orders(
        [
            {
                "symbol": "BTCUSDT",
                "orderId": 9,
                "side": "BUY",
                "type": "LIMIT",
                "origQty": "0.1",
                "executedQty": "0",
                "price": "40000",
                "sideEffectType": "MARGIN_BUY",
            }
        ]
    )
    assert margin[0].side_effect == "MARGIN_BUY"


def test_account_without_maintenance_margin_has_no_unimmr() -> None:
    acct = parse_account(
        {
            "uniMMR": "99999999",
            "accountMaintMargin": "0",
            "accountEquity": "1",
            "accountStatus": "NORMAL",
        }
    )
    assert acct.uni_mmr is None
    acct = parse_account(
        {
            "uniMMR": "5.5",
            "accountMaintMargin": "10",
            "accountEquity": "55",
            "accountStatus": "NORMAL",
        }
    )
    assert acct.uni_mmr == D("5.5")


def test_market_data() -> None:
    info = parse_exchange_info(
        {
            "symbols": [
                {
                    "symbol": "BTCUSD_PERP",
                    "baseAsset": "BTC",
                    "quoteAsset": "USD",
                    "marginAsset": "BTC",
                    "contractSize": 100,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                        {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1"},
                    ],
                }
            ]
        },
        "CM",
    )
    inst = info[("CM", "BTCUSD_PERP")]
    assert inst.contract_size == D(100)
    assert inst.tick_size == D("0.1")
    brackets = parse_brackets(
        [
            {
                "symbol": "BTCUSD_PERP",
                "brackets": [
                    {"bracket": 1, "qtyFloor": 0, "qtyCap": 50, "maintMarginRatio": 0.004, "cum": 0}
                ],
            }
        ],
        "CM",
    )
    assert brackets["BTCUSD_PERP"][0].maint_margin_ratio == D("0.004")
    tiers = parse_collateral_rates(
        [
            {
                "asset": "BTC",
                "collateralInfo": [{"tierFloor": "0", "tierCap": "100", "collateralRate": "0.95"}],
            },
            {"asset": "USDT", "collateralRate": "1.0000"},
        ]
    )
    assert tiers["USDT"] == D(1)
    assert isinstance(tiers["BTC"], tuple)
    assert parse_premium_index({"symbol": "BTCUSDT", "markPrice": "50000.5", "time": 3})[
        "BTCUSDT"
    ].price == D("50000.5")
    with pytest.raises(CodecError, match="markPrice"):
        parse_premium_index([{"symbol": "BTCUSDT", "markPrice": "NaN"}])


def test_data_and_static_round_trip_exactly() -> None:
    data = merge_load(AccountData(), load(position="1.5", usdt="9999.99999999"))
    apply_events(data, [otu(x="NEW", status="NEW", q="2", client="c")], T0)
    apply_events(
        data,
        [
            otu(
                x="TRADE",
                status="PARTIALLY_FILLED",
                q="2",
                z="0.5",
                l="0.5",
                fill_price="30000.1",
                trade_id=4,
                t=T0 + 9,
                client="c",
                fee="1.5",
            )
        ],
        T0,
    )
    static = static_from_json(static_to_json(data.static))
    assert static == data.static
    back = data_from_json(data_to_json(data), static)
    assert back == data


def test_reservation_round_trip() -> None:
    legs = (
        order_leg("UM", "BTCUSDT", "BUY", "LIMIT", D("0.5"), price=D(30000)),
        LoanLeg("BTC", "BORROW", D("0.1")),
    )
    r = new_reservation("c1", legs, T0, 1000, client_id="c1", bot="b")
    assert reservation_from_json(reservation_to_json(r)) == r
