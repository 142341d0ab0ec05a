"""Exchange-side risk on the engine: bands, riskLevelChange, reduce-only, liquidation, -3048.

The `simple()` account has a closed form: uniMMR(P) = (10,000 + 2·(P − 50,000)) / (0.02·P).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.paper import futures
from margin_gate.paper import margin
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.engine import PriceUpdate
from margin_gate.paper.orders import Order
from margin_gate.paper.risk import band
from margin_gate.paper.schema import RiskSettings
from margin_gate.wire.errors import BinanceError
from tests.unit.paper import states
from tests.unit.paper.conftest import MakeExchange
from tests.unit.paper.conftest import sink

D = Decimal
MARGIN_CALL_PRICE = D(45600)  # uniMMR 1.3158
REDUCE_ONLY_PRICE = D(45540)  # uniMMR 1.1858
LIQUIDATION_PRICE = D(45450)  # uniMMR 0.9901


def status(ex: PaperExchange) -> str:
    return ex.status


def liquidating(ex: PaperExchange) -> bool:
    return ex.liquidating


def move(ex: PaperExchange, price: Decimal) -> None:
    ex.set_prices([PriceUpdate(base="BTC", price=price)])


@pytest.mark.parametrize(
    ("uni", "status"),
    [
        (None, "NORMAL"),
        (D("1.51"), "NORMAL"),
        (D("1.5"), "MARGIN_CALL"),
        (D("1.2"), "REDUCE_ONLY"),
        (D("1.05"), "REDUCE_ONLY"),
        (D("1.0499"), "FORCE_LIQUIDATION"),
    ],
)
def test_status_bands(uni: Decimal | None, status: str) -> None:
    assert band(uni, RiskSettings()) == status


def test_price_moves_walk_the_bands_and_announce_each(make_exchange: MakeExchange) -> None:
    ex = make_exchange()

    move(ex, MARGIN_CALL_PRICE)
    assert status(ex) == "MARGIN_CALL"
    move(ex, REDUCE_ONLY_PRICE)
    assert status(ex) == "REDUCE_ONLY"

    changes = sink(ex).of("riskLevelChange")
    assert [c["s"] for c in changes] == ["MARGIN_CALL", "REDUCE_ONLY"]
    last = changes[-1]
    assert last["u"] == ex.uni_mmr_text()
    assert D(last["eq"]) / D(last["m"]) == pytest.approx(D(last["u"]), abs=D("1e-7"))


def test_reduce_only_band_refuses_risk_increasing_orders_only(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    move(ex, REDUCE_ONLY_PRICE)

    more = futures.place(
        ex, "UM", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"} | {"quantity": "0.1"}
    )
    other = futures.place(
        ex, "UM", {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET"} | {"quantity": "1"}
    )
    less = futures.place(
        ex, "UM", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET"} | {"quantity": "0.1"}
    )

    assert isinstance(more, BinanceError)
    assert more.code == -4405
    assert isinstance(other, BinanceError)
    assert other.code == -4405
    assert isinstance(less, Order)
    assert less.status == "FILLED"


def test_reduce_only_band_uses_the_cm_code_for_cm_orders(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    move(ex, REDUCE_ONLY_PRICE)

    cm = futures.place(
        ex, "CM", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "1"}
    )

    assert isinstance(cm, BinanceError)
    assert cm.code == -4415


def test_reduce_only_band_refuses_new_borrowing(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    move(ex, REDUCE_ONLY_PRICE)

    loan = margin.loan(ex, {"asset": "USDT", "amount": "10"})

    assert isinstance(loan, BinanceError)
    assert loan.code == -2010


def test_liquidation_locks_order_entry_then_closes_positions(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    move(ex, REDUCE_ONLY_PRICE)
    move(ex, LIQUIDATION_PRICE)

    assert status(ex) == "FORCE_LIQUIDATION"
    assert ex.liquidating
    assert sink(ex).liquidations == 1
    blocked = futures.place(
        ex, "UM", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET"} | {"quantity": "0.1"}
    )
    assert isinstance(blocked, BinanceError)
    assert (blocked.code, blocked.status) == (-3048, 400)

    ex.run_liquidation()

    assert status(ex) == "NORMAL"
    assert not liquidating(ex)
    assert ex.ledger.position("UM", "BTCUSDT", "BOTH").amount == 0
    closes = [e for e in sink(ex).of("ORDER_TRADE_UPDATE") if e["o"]["o"] == "LIQUIDATION"]
    assert [e["o"]["x"] for e in closes] == ["NEW", "CALCULATED"]
    assert closes[0]["o"]["c"].startswith("autoclose-")
    assert closes[0]["o"]["f"] == "IOC"
    # 2 BTC sold at 45,450: −9,100 realized, 45.45 taker fee, 454.50 clearance fee (0.5%)
    assert ex.ledger.balance("USDT").um_wallet == D("400.05")
    clear = [e for e in sink(ex).of("ACCOUNT_UPDATE") if e["a"]["m"] == "INSURANCE_CLEAR"]
    assert clear[0]["a"]["B"][0]["bc"] == "-454.50000000"
    assert [c["s"] for c in sink(ex).of("riskLevelChange")][-1] == "FORCE_LIQUIDATION"


def test_liquidation_cancels_margin_orders_at_once(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    ex.ledger.balance("USDT").free = D(1000)
    resting = margin.place(
        ex,
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01"}
        | {"price": "40000", "timeInForce": "GTC"},
    )
    assert isinstance(resting, Order)
    assert resting.status == "NEW"

    move(ex, D(44900))  # the extra 1,000 USDT moves the liquidation price down

    assert ex.liquidating
    assert resting.status == "CANCELED"
    assert ex.ledger.balance("USDT").locked == 0


def test_negative_equity_after_liquidation_is_bankrupt(make_exchange: MakeExchange) -> None:
    ex = make_exchange()
    move(ex, D(40000))  # equity −10,000 + … far below zero
    ex.run_liquidation()

    assert ex.status == "BANKRUPTED"
    assert ex.risk().actual_equity < 0


def test_uni_mmr_sentinel_when_there_is_no_maintenance_margin(make_exchange: MakeExchange) -> None:
    data = states.simple()
    data["account"]["um_positions"] = []
    ex = make_exchange(data)

    assert ex.uni_mmr_text() == "99999999"
    assert ex.status == "NORMAL"


def test_margin_liquidation_repays_loans_by_selling_collateral(
    make_exchange: MakeExchange,
) -> None:
    data = states.simple()
    data["account"]["um_positions"] = []
    data["account"]["balances"] = {
        "USDT": {"cross_margin_asset": "100", "cross_margin_borrowed": "1000"},
        "BTC": {"cross_margin_asset": "0.05"},
    }
    ex = make_exchange(data)

    from margin_gate.paper.liquidation import liquidate_margin

    items = liquidate_margin(ex)

    usdt, btc = ex.ledger.balance("USDT"), ex.ledger.balance("BTC")
    assert usdt.borrowed == 0
    assert items[0] == {
        "asset": "USDT",
        "interest": D(0),
        "principal": D(100),
        "liabilityAsset": "USDT",
        "liabilityQty": D(100),
    }
    assert items[1]["liabilityAsset"] == "BTC"
    assert items[1]["principal"] == D(900)
    assert btc.free == D("0.05") - items[1]["liabilityQty"]
    assert sink(ex).of("liabilityChange")[-1]["l"] == "0.00000000"
