"""Bracket lookup and maintenance margin (§1.4, §1.5); collateral haircuts (§1.2, §1.6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.margin.brackets import BracketTable
from margin_gate.margin.brackets import cm_notional
from margin_gate.margin.brackets import maint_margin
from margin_gate.margin.brackets import um_notional
from margin_gate.margin.collateral import haircut_usd
from margin_gate.margin.collateral import tiered_amount
from margin_gate.margin.model import CollateralTier
from tests.unit.margin.builders import BTCUSDT_BRACKETS

D = Decimal
TABLE = BracketTable.of("BTCUSDT", reversed(BTCUSDT_BRACKETS))  # sorted on build


def test_table_is_sorted_and_must_not_be_empty() -> None:
    assert TABLE.floors == (0, 50_000, 250_000)
    with pytest.raises(ValueError, match="empty"):
        BracketTable.of("X", [])


@pytest.mark.parametrize(
    ("notional", "mm"),
    [
        (D(0), D(0)),
        (D(10_000), D(40)),  # 10,000 × 0.4%
        (D(50_000), D(200)),  # boundary: 50,000 × 0.5% − 50 = 200 = 50,000 × 0.4% (continuous)
        (D(80_000), D(350)),  # 80,000 × 0.5% − 50
        (D(300_000), D(1_700)),  # 300,000 × 1% − 1,300
        (D("2e12"), D("2e10") - 1_300),  # past the last cap: last bracket
    ],
)
def test_maint_margin_uses_the_containing_bracket(notional: Decimal, mm: Decimal) -> None:
    assert maint_margin(notional, TABLE, "floor") == mm
    assert maint_margin(notional, TABLE, "cap") == mm


def test_boundary_rule_only_matters_for_discontinuous_tables() -> None:
    assert TABLE.find(D(50_000), "floor").floor == 50_000
    assert TABLE.find(D(50_000), "cap").floor == 0
    assert TABLE.find(D(0), "cap").floor == 0


def test_notionals() -> None:
    assert um_notional(D("-0.05"), D(40_000)) == 2_000
    assert cm_notional(D(-100), D(100), D(40_000)) == D("0.25")
    assert cm_notional(D(0), D(100), D(40_000)) == 0


def test_haircut_flat_and_negative() -> None:
    assert haircut_usd(D("0.11"), D(40_000), D("0.95"), "usd_value") == 4_180
    assert haircut_usd(D(-2), D(40_000), D("0.95"), "usd_value") == -80_000  # debt at 100%
    assert haircut_usd(D(1), D(10), D("1.2"), "usd_value") == 10  # never above 100%


def test_cross_margin_haircut_example() -> None:
    # §1.6: 6,000 BTC at 20,000 = 120M; 100% to 100M, 97.5% beyond → 119.5M
    tiers = (
        CollateralTier(D(0), D(100_000_000), D(1)),
        CollateralTier(D(100_000_000), D(200_000_000), D("0.975")),
    )
    assert haircut_usd(D(6_000), D(20_000), tiers, "usd_value") == 119_500_000
    # beyond the last cap the last rate continues: 300M → 100M + 200M × 0.975
    assert tiered_amount(D(300_000_000), tiers) == 295_000_000
    # quantity basis: tiers read as BTC
    btc_tiers = (CollateralTier(D(0), D(1), D(1)), CollateralTier(D(1), None, D("0.5")))
    assert haircut_usd(D(3), D(100), btc_tiers, "quantity") == 200  # (1 + 2 × 0.5) × 100
    assert haircut_usd(D("0.5"), D(100), btc_tiers, "quantity") == 50  # inside the first tier
