"""Leg construction, JSON round trip, fill prices and the futures fill arithmetic."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.margin import Instrument
from margin_gate.margin import LoanLeg
from margin_gate.margin import OpenOrder
from margin_gate.margin import OrderLeg
from margin_gate.margin import Position
from margin_gate.margin.fills import apply_futures_leg
from margin_gate.margin.fills import effective_slippage
from margin_gate.margin.fills import fill_price
from margin_gate.margin.fills import futures_fill
from margin_gate.margin.legs import leg_from_json
from margin_gate.margin.legs import leg_to_json
from margin_gate.margin.legs import open_order_leg
from margin_gate.margin.legs import order_leg

D = Decimal
MARK = D(40_000)
SLIP = D("0.005")


def test_order_leg_pricing_rules() -> None:
    assert order_leg("UM", "X", "BUY", "MARKET", D(1)) == OrderLeg(
        "UM", "X", "BUY", D(1), None, True
    )
    assert order_leg("UM", "X", "BUY", "STOP", D(1), price=D(5), stop_price=D(6)).price == 5
    assert order_leg("UM", "X", "BUY", "STOP", D(1), stop_price=D(6), price_match=True).price == 6
    assert order_leg("MARGIN", "X", "SELL", "TAKE_PROFIT", D(1), stop_price=D(7)).at_market
    assert order_leg("UM", "X", "BUY", "TRAILING_STOP_MARKET", D(1)).callback == 0
    with pytest.raises(ValueError, match="not valid"):
        order_leg("MARGIN", "X", "BUY", "TRAILING_STOP_MARKET", D(1))
    with pytest.raises(ValueError, match="not valid"):
        order_leg("UM", "X", "BUY", "LIMIT_MAKER", D(1))


def test_open_order_leg_treats_close_position_as_reduce_only() -> None:
    order = OpenOrder("UM", "BTCUSDT", "1", "SELL", "STOP_MARKET", None, stop_price=D(38_000))
    leg = open_order_leg(order)
    assert (leg.quantity, leg.reduce_only, leg.price, leg.at_market) == (None, True, 38_000, True)


LEGS = [
    OrderLeg("UM", "BTCUSDT", "BUY", D("0.001"), D("1e2"), True, D("0.01"), "LONG", True),
    OrderLeg("MARGIN", "BTCUSDT", "SELL", None, quote_quantity=D(5), side_effect="AUTO_REPAY"),
    LoanLeg("USDT", "BORROW", D("12.5")),
    LoanLeg("BTC", "REPAY", None),
]


@pytest.mark.parametrize("leg", LEGS)
def test_legs_round_trip_through_flat_string_dicts(leg: OrderLeg | LoanLeg) -> None:
    data = leg_to_json(leg)
    assert all(isinstance(v, str) for v in data.values())
    assert leg_from_json(data) == leg


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "other"},
        {"side": "HOLD"},
        {"reduce_only": "yes"},
        {"quantity": "NaN"},
        {"quantity": "abc"},
        {"price": "Infinity"},
    ],
)
def test_malformed_stored_legs_are_refused(change: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="malformed"):
        leg_from_json({**leg_to_json(LEGS[0]), **change})


def test_loan_leg_sides() -> None:
    assert (LEGS[2].side, LEGS[3].side, LEGS[2].key) == ("BUY", "SELL", ("LOAN", "USDT"))


def test_capped_legs() -> None:
    assert OrderLeg("UM", "X", "SELL", D(1), position_side="LONG").capped
    assert OrderLeg("UM", "X", "BUY", D(1), position_side="SHORT").capped
    assert not OrderLeg("UM", "X", "BUY", D(1), position_side="LONG").capped
    assert OrderLeg("UM", "X", "BUY", D(1), reduce_only=True).capped


def test_fill_price_worst_of_reference_and_mark() -> None:
    def leg(side: str, price: Decimal | None = None, **kw: object) -> OrderLeg:
        return OrderLeg("UM", "X", side, D(1), price, **kw)  # type: ignore[arg-type]

    assert fill_price(leg("BUY", at_market=True), MARK, SLIP) == 40_200
    assert fill_price(leg("SELL", at_market=True), MARK, SLIP) == 39_800
    assert fill_price(leg("BUY", D(39_000)), MARK, SLIP) == 40_000
    assert fill_price(leg("SELL", D(39_000)), MARK, SLIP) == 39_000
    # trailing SELL: min(41,000, 40,000) × 0.99 × 0.995
    assert fill_price(leg("SELL", D(41_000), at_market=True, callback=D("0.01")), MARK, SLIP) == D(
        "39402"
    )


def test_effective_slippage_takes_the_tightest_bound() -> None:
    inst = Instrument(
        "X",
        "UM",
        "B",
        "Q",
        "Q",
        percent_price_up=D("1.003"),
        percent_price_down=D("0.999"),
        market_take_bound=D("0.002"),
    )
    assert effective_slippage(True, SLIP, inst) == D("0.002")
    assert effective_slippage(False, SLIP, inst) == D("0.001")
    loose = Instrument("X", "UM", "B", "Q", "Q", percent_price_up=D("0.99"))
    assert effective_slippage(True, SLIP, loose) == 0  # never negative


@pytest.mark.parametrize(
    ("amount", "entry", "delta", "price", "expected"),
    [
        (D(0), D(0), D(2), D(100), (D(2), D(100), D(0))),  # open
        (D(1), D(100), D(1), D(110), (D(2), D(105), D(0))),  # add: (100 + 110) / 2
        (D(-2), D(100), D(1), D(90), (D(-1), D(100), D(10))),  # reduce short: 1 × (100 − 90)
        (D(2), D(100), D(-2), D(90), (D(0), D(0), D(-20))),  # close long: 2 × (90 − 100)
        (D(1), D(100), D(-3), D(90), (D(-2), D(90), D(-10))),  # flip: close 1, reopen 2 at 90
    ],
)
def test_um_fills(amount, entry, delta, price, expected) -> None:
    assert futures_fill(amount, entry, delta, price, None) == expected


def test_cm_fills_use_harmonic_entry_and_inverse_pnl() -> None:
    # add 100 @ 40,000 to 100 @ 50,000: 200 / (100/50,000 + 100/40,000) = 44,444.44…
    amount, entry, realized = futures_fill(D(100), D(50_000), D(100), D(40_000), D(100))
    assert (amount, realized) == (200, 0)
    assert entry.quantize(D("0.01")) == D("44444.44")
    # close 40 of a long 100 @ 50,000 at 40,000: 40 × 100 × (1/50,000 − 1/40,000) = −0.02
    assert futures_fill(D(100), D(50_000), D(-40), D(40_000), D(100)) == (60, 50_000, D("-0.02"))


def test_apply_futures_leg_returns_wallet_and_equity_change() -> None:
    inst = Instrument("X", "UM", "B", "USDT", "USDT")
    positions = {"BOTH": Position("X", "UM", "BOTH", D(1), D(38_000))}
    leg = OrderLeg("UM", "X", "SELL", D(1), D(40_000))
    wallet, equity = apply_futures_leg(positions, leg, inst, MARK, SLIP, D("0.0005"))  # type: ignore[arg-type]
    assert (wallet, equity) == (D(1_980), D(-20))  # realized 2,000 − 20 fee; equity only −fee
    assert positions["BOTH"].amount == 0
    capped = OrderLeg("UM", "X", "SELL", D(1), reduce_only=True)
    assert apply_futures_leg(positions, capped, inst, MARK, SLIP, D(0)) == (0, 0)  # type: ignore[arg-type]
