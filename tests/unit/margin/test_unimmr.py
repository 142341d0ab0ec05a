"""uniMMR formula parts and binance-pm.md §1.9 (the PM Pro worked example) as a golden test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.margin import AccountRisk
from margin_gate.margin import AccountSnapshot
from margin_gate.margin import Balance
from margin_gate.margin import Bracket
from margin_gate.margin import Instrument
from margin_gate.margin import Position
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import SnapshotError
from margin_gate.margin import compute
from margin_gate.margin import instrument_map
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.unimmr import cm_unrealized_pnl
from margin_gate.margin.unimmr import loan_maint_margin
from margin_gate.margin.unimmr import um_unrealized_pnl
from margin_gate.margin.unimmr import uni_mmr
from margin_gate.margin.unimmr import wallet_equity
from tests.unit.margin.builders import ETH_LONG
from tests.unit.margin.builders import coin
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import ratio
from tests.unit.margin.builders import snapshot
from tests.unit.margin.builders import usdt

D = Decimal
HALF_PERCENT = (Bracket(D(0), D("1e9"), D("0.005"), D(0)),)


def example_1_9() -> AccountSnapshot:
    """§1.9 inputs with its stated assumptions: P_BTC 40,000, P_ETH 3,000, CR_USDT 1,
    CR_BTC = CR_ETH 0.95, 0.5% brackets (cum 0), loan MMR 10% (3x). CM position quantity
    10,000 USD = 100 contracts of 100 USD."""
    instruments = instrument_map(
        [
            Instrument("BTCUSDT", "UM", "BTC", "USDT", "USDT"),
            Instrument("BTCUSDT_220624", "UM", "BTC", "USDT", "USDT"),
            Instrument("BTCUSD_PERP", "CM", "BTC", "USD", "BTC", D(100)),
        ]
    )
    return AccountSnapshot(
        balances=(
            Balance("USDT", cross_margin_asset=D(1_000), um_wallet=D(5_000)),
            Balance("BTC", D("0.1"), D("0.04"), cm_wallet=D("0.1")),
            Balance("ETH", D(20), D(15)),
        ),
        positions=(
            Position("BTCUSDT", "UM", "BOTH", D("-0.05"), D(52_000)),
            Position("BTCUSDT_220624", "UM", "BOTH", D("0.04"), D(52_350)),
            Position("BTCUSD_PERP", "CM", "BOTH", D(100), D(50_000)),
        ),
        instruments=instruments,
        brackets={s: HALF_PERCENT for s in ("BTCUSDT", "BTCUSDT_220624", "BTCUSD_PERP")},
        mark_prices={"BTCUSDT": D(40_000), "BTCUSDT_220624": D(42_000), "BTCUSD_PERP": D(40_000)},
        index_prices={"USDT": D(1), "BTC": D(40_000), "ETH": D(3_000)},
        collateral_rates={"USDT": D(1), "BTC": D("0.95"), "ETH": D("0.95")},
        loan_mm_rates={"BTC": D("0.10"), "ETH": D("0.10")},
    )


@pytest.mark.parametrize(
    "build", [compute, lambda s, st: AccountRisk.from_snapshot(s, st).breakdown()]
)
def test_example_1_9_reproduces_the_derived_parts(build) -> None:
    b = build(example_1_9(), ProjectionSettings())
    rows = {r.asset: r for r in b.assets}
    # E_USDT = 1,000 + 5,000 + 600 (short 0.05 × (52,000 − 40,000)) − 414 (0.04 × (42,000 − 52,350))
    assert rows["USDT"].equity == D(6_186)
    # E_BTC = 0.1 − 0.04 + 0.1 − 0.05 (CM: 10,000 × (1/50,000 − 1/40,000))
    assert rows["BTC"].equity == D("0.11")
    assert rows["ETH"].equity == D(5)
    # UM MM: 0.05 × 40,000 × 0.5% = 10, 0.04 × 42,000 × 0.5% = 8.4
    assert rows["USDT"].um_maint_margin == D("18.4")
    # CM MM: 10,000 / 40,000 × 0.5% = 0.00125 BTC; loans 0.04 × 10% = 0.004 BTC, 15 × 10% = 1.5 ETH
    assert rows["BTC"].cm_maint_margin == D("0.00125")
    assert rows["BTC"].loan_maint_margin == D("0.004")
    assert rows["ETH"].loan_maint_margin == D("1.5")
    # ΣEquity = 6,186 + 0.11 × 40,000 × 0.95 + 5 × 3,000 × 0.95 = 6,186 + 4,180 + 14,250
    assert b.adjusted_equity_usd == D(24_616)
    assert [rows[a].adjusted_equity_usd for a in ("USDT", "BTC", "ETH")] == [6_186, 4_180, 14_250]
    # actual equity (no haircut): 6,186 + 4,400 + 15,000
    assert b.equity_usd == D(25_586)
    # ΣMM = 18.4 + 0.00525 × 40,000 + 1.5 × 3,000 = 18.4 + 210 + 4,500
    assert b.maint_margin_usd == D("4728.4")
    assert (b.um_maint_margin_usd, b.cm_maint_margin_usd, b.loan_maint_margin_usd) == (
        D("18.4"),
        D(50),
        D(4_660),
    )
    # uniMMR = 24,616 / 4,728.4 ≈ 5.206
    assert b.uni_mmr == ratio(24_616, "4728.4")
    assert b.uni_mmr.quantize(D("0.001")) == D("5.206")


def test_pnl_formulas_match_the_example() -> None:
    assert um_unrealized_pnl(D("-0.05"), D(52_000), D(40_000)) == 600
    assert um_unrealized_pnl(D("0.04"), D(52_350), D(42_000)) == -414
    assert cm_unrealized_pnl(D(100), D(100), D(50_000), D(40_000)) == D("-0.05")
    assert cm_unrealized_pnl(D(0), D(100), D(0), D(40_000)) == 0


def test_wallet_equity_nets_all_three_wallets_and_loans() -> None:
    b = Balance("BTC", D(1), D("0.3"), D("0.01"), D("0.2"), D("0.5"))
    assert wallet_equity(b) == D("1.39")  # 1 − 0.3 − 0.01 + 0.2 + 0.5


def test_loan_mm_counts_interest_only_when_set() -> None:
    b = Balance("ETH", D(20), D(15), D(1))
    assert loan_maint_margin(b, D("0.1"), True) == D("1.6")  # (15 + 1) × 10%
    assert loan_maint_margin(b, D("0.1"), False) == D("1.5")


def test_uni_mmr_is_infinite_without_maintenance_margin() -> None:
    assert uni_mmr(D(100), D(0)) == INFINITY
    assert uni_mmr(D(100), D(-1)) == INFINITY
    assert uni_mmr(D(100), D(50)) == 2
    assert compute(snapshot(usdt(cross=1_000)), ProjectionSettings()).uni_mmr == INFINITY
    # an all-zero balance of an unpriced asset is no row and needs no price
    assert compute(snapshot(Balance("XRP")), ProjectionSettings()).assets == ()


def test_negative_equity_counts_in_full_and_open_loss_is_subtracted() -> None:
    # USDT E = −500 at 100%; BTC 1 × 40,000 × 0.95 = 38,000; open loss |−100|; MM 100 (ETH)
    snap = snapshot(usdt(um=-500), coin("BTC", 1), positions=(ETH_LONG,), open_loss_usd=D(-100))
    b = compute(snap, ProjectionSettings())
    assert b.adjusted_equity_usd == D(37_400)  # 38,000 − 500 − 100
    assert b.open_loss_usd == D(100)
    assert b.uni_mmr == D(374)


def test_hedge_legs_are_bracketed_per_leg_or_combined() -> None:
    # LONG 2 and SHORT 2 BTC at 40,000: 80,000 each → 80,000 × 0.5% − 50 = 350 per leg
    legs = (pos("BTCUSDT", 2, 40_000, "LONG"), pos("BTCUSDT", -2, 40_000, "SHORT"))
    snap = snapshot(usdt(um=10_000), positions=legs, um_hedge_mode=True)
    assert compute(snap, ProjectionSettings()).maint_margin_usd == 700
    # combined: 160,000 × 0.5% − 50 = 750
    combined = ProjectionSettings(hedge_bracketing="combined")
    assert compute(snap, combined).maint_margin_usd == 750


def test_missing_index_price_fails_closed() -> None:
    cm_long = snapshot(usdt(um=1), positions=(pos("BTCUSD_PERP", 1, 40_000),))
    no_btc = AccountSnapshot(**{**_fields(cm_long), "index_prices": {"USDT": D(1)}})
    with pytest.raises(SnapshotError, match="BTC"):
        compute(no_btc, ProjectionSettings())
    with pytest.raises(SnapshotError, match="DOGE"):
        compute(snapshot(coin("DOGE", 5)), ProjectionSettings())


def test_missing_mark_bracket_or_instrument_fails_closed() -> None:
    settings = ProjectionSettings()
    base = snapshot(usdt(um=1), positions=(pos("BTCUSDT", 1, 40_000),))
    for change, text in (
        ({"mark_prices": {}}, "mark"),
        ({"brackets": {}}, "brackets"),
        ({"instruments": {}}, "instrument"),
    ):
        broken = AccountSnapshot(**{**_fields(base), **change})
        with pytest.raises(SnapshotError, match=text):
            compute(broken, settings)
        with pytest.raises(SnapshotError, match=text):
            AccountRisk.from_snapshot(broken, settings)


def _fields(snap: AccountSnapshot) -> dict[str, object]:
    return {f: getattr(snap, f) for f in snap.__dataclass_fields__}
