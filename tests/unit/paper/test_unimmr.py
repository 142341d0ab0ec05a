"""The paper exchange's reference uniMMR against binance-pm.md §1.9 and the bracket rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.paper.ledger import Ledger
from margin_gate.paper.schema import Bracket
from margin_gate.paper.schema import CollateralTier
from margin_gate.paper.unimmr import bracket_for
from margin_gate.paper.unimmr import collateral_value
from margin_gate.paper.unimmr import compute
from margin_gate.paper.unimmr import maint_margin
from tests.unit.paper import states

D = Decimal


def test_example_1_9_matches_the_derived_totals() -> None:
    state = states.build(states.example_1_9())
    snap = compute(Ledger(state, 0), state)

    assert snap.account_equity == D("24616")
    assert snap.maint_margin == D("4728.4")
    assert snap.uni_mmr == D("24616") / D("4728.4")
    assert round(snap.uni_mmr, 3) == D("5.206")


def test_example_1_9_per_asset_breakdown() -> None:
    state = states.build(states.example_1_9())
    snap = compute(Ledger(state, 0), state)
    usdt, btc, eth = snap.assets["USDT"], snap.assets["BTC"], snap.assets["ETH"]

    assert usdt.um_pnl == D("186")  # 600 − 414
    assert usdt.equity == D("6186")
    assert usdt.futures_mm == D("18.4")
    assert btc.cm_pnl == D("-0.05")
    assert btc.equity == D("0.11")
    assert btc.futures_mm == D("0.00125")
    assert btc.margin_mm == D("0.004")
    assert eth.equity == D("5")
    assert eth.margin_mm == D("1.5")
    assert snap.actual_equity == D("6186") + D("0.11") * 40000 + 5 * 3000


def test_negative_equity_counts_at_full_value() -> None:
    data = states.example_1_9()
    data["account"]["balances"]["ETH"] = {"cross_margin_asset": "1", "cross_margin_borrowed": "3"}
    state = states.build(data)
    snap = compute(Ledger(state, 0), state)

    assert snap.assets["ETH"].adjusted_usd == D("-6000")  # −2 ETH × 3000, no haircut benefit


def test_loan_interest_in_mm_is_configurable() -> None:
    data = states.example_1_9()
    data["account"]["balances"]["ETH"]["cross_margin_interest"] = "1"
    with_interest = states.build(data)
    without = states.build(data, risk__loan_interest_in_mm=False)

    assert compute(Ledger(with_interest, 0), with_interest).assets["ETH"].margin_mm == D("1.6")
    assert compute(Ledger(without, 0), without).assets["ETH"].margin_mm == D("1.5")


def test_no_maintenance_margin_gives_no_ratio() -> None:
    data = states.simple()
    data["account"]["um_positions"] = []
    state = states.build(data)

    assert compute(Ledger(state, 0), state).uni_mmr is None


def test_simple_state_closed_form() -> None:
    state = states.build(states.simple())
    snap = compute(Ledger(state, 0), state)

    assert snap.uni_mmr == D("10000") / D("1000")


HEDGE = [
    {"symbol": "BTCUSDT", "position_side": "LONG", "amount": "2", "entry_price": "50000"},
    {"symbol": "BTCUSDT", "position_side": "SHORT", "amount": "-1", "entry_price": "50000"},
]


@pytest.mark.parametrize(("separate", "mm"), [(True, D("1500")), (False, D("500"))])
def test_hedge_legs_bracketed_separately_or_netted(separate: bool, mm: Decimal) -> None:
    data = states.simple()
    data["account"]["dual_side_position"] = True
    data["account"]["um_positions"] = HEDGE
    state = states.build(data, risk__hedge_legs_separate=separate)

    assert compute(Ledger(state, 0), state).maint_margin == mm


BRACKETS = (
    Bracket(1, 125, D(0), D(50000), D("0.004"), D(0)),
    Bracket(2, 100, D(50000), D(600000), D("0.005"), D(50)),
    Bracket(3, 75, D(600000), D(3000000), D("0.0065"), D(950)),
)


@pytest.mark.parametrize(
    ("notional", "bracket", "mm"),
    [
        (D(0), 1, D(0)),
        (D(49999), 1, D("199.996")),
        (D(50000), 2, D("200")),  # floor inclusive, cap exclusive; continuous at the boundary
        (D(600000), 3, D("2950")),
        (D(5000000), 3, D("31550")),  # beyond the last cap: last bracket
    ],
)
def test_bracket_lookup(notional: Decimal, bracket: int, mm: Decimal) -> None:
    assert bracket_for(BRACKETS, notional).bracket == bracket
    assert maint_margin(BRACKETS, notional) == mm


def test_tiered_collateral_applies_each_slice() -> None:
    tiers = (
        CollateralTier(D(0), D(100_000_000), D(1)),
        CollateralTier(D(100_000_000), D(200_000_000), D("0.975")),
    )

    assert collateral_value(D(120_000_000), D(1), tiers) == D(119_500_000)
    assert collateral_value(D(-5), D("0.5"), tiers) == D(-5)
