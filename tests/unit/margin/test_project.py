"""Golden projections: each case states its arithmetic and asserts exact Decimals.

Standard market and settings: see builders.py (BTC mark 40,000 with 0.4% / 0.5% / 1%
brackets, slippage 0.5% → MARKET BUY fills at 40,200 and SELL at 39,800, futures taker 0.05%,
margin taker 0.1%, collateral BTC 0.95, loan MM 10%).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.margin import AccountRisk
from margin_gate.margin import Commission
from margin_gate.margin import OpenOrder
from margin_gate.margin import PendingOrder
from margin_gate.margin import Projection
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import SnapshotError
from margin_gate.margin import project
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.model import CollateralTier
from margin_gate.margin.project import CONDITIONAL_REFUSED
from margin_gate.margin.unimmr import AssetRow
from tests.unit.margin.builders import ETH_LONG
from tests.unit.margin.builders import coin
from tests.unit.margin.builders import intent
from tests.unit.margin.builders import margin_order
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import ratio
from tests.unit.margin.builders import risk
from tests.unit.margin.builders import snapshot
from tests.unit.margin.builders import um_order
from tests.unit.margin.builders import usdt

D = Decimal
WALLET = usdt(um=10_000)


def row(p: Projection, asset: str) -> AssetRow:
    (found,) = [r for r in p.breakdown.assets if r.asset == asset]
    return found


def amount(p: Projection, symbol: str, side: str = "BOTH") -> tuple[Decimal, Decimal]:
    (found,) = [x for x in p.positions_after if x.symbol == symbol and x.position_side == side]
    return found.amount, found.entry_price


# -- UM orders --


def test_um_market_buy_from_flat() -> None:
    # fill 40,000 × 1.005 = 40,200; fee 40,200 × 0.05% = 20.1; ΔE = 1 × (40,000 − 40,200) − 20.1
    # E = 10,000 − 220.1 = 9,779.9; MM = 40,000 × 0.4% = 160 → 9,779.9 / 160 = 61.124375
    p = project(risk(WALLET), um_order("BUY", "1"))
    assert p.unimmr_before == INFINITY
    assert p.adjusted_equity_after == D("9779.9")
    assert p.maint_margin_after == 160
    assert p.unimmr_after == D("61.124375")
    assert amount(p, "BTCUSDT") == (1, 40_200)
    assert p.balances_after[0].um_wallet == D("9979.9")  # only the fee is booked to the wallet


def test_um_passive_limit_buy_fills_at_mark() -> None:
    # limit 39,000 < mark: worst = max(39,000, 40,000) = 40,000, no gain booked; fee 20
    # E = 9,980; MM 160 → 62.375
    p = project(risk(WALLET), um_order("BUY", "1", "LIMIT", price="39000", timeInForce="GTC"))
    assert p.unimmr_after == D("62.375")
    assert amount(p, "BTCUSDT") == (1, 40_000)


def test_um_marketable_limit_buy_charges_the_loss_against_mark() -> None:
    # limit 41,000 > mark: fill 41,000; ΔE = −1,000 − 20.5; E = 8,979.5; MM 160 → 56.121875
    p = project(risk(WALLET), um_order("BUY", "1", "LIMIT", price="41000"))
    assert p.adjusted_equity_after == D("8979.5")
    assert p.unimmr_after == D("56.121875")


def test_um_passive_limit_sell_fills_at_mark() -> None:
    # limit 41,000 > mark for a SELL: worst = min(41,000, 40,000) = 40,000; fee 20; short 1
    # E = 9,980; MM 160 → 62.375
    p = project(risk(WALLET), um_order("SELL", "1", "LIMIT", price="41000"))
    assert p.unimmr_after == D("62.375")
    assert amount(p, "BTCUSDT") == (-1, 40_000)


def test_um_order_crosses_into_the_second_bracket() -> None:
    # 2 BTC at 40,200: fee 40.2; ΔE = 2 × −200 − 40.2 = −440.2 → E 9,559.8
    # notional 80,000 ∈ [50k, 250k): MM = 80,000 × 0.5% − 50 = 350
    p = project(risk(WALLET), um_order("BUY", "2"))
    assert p.adjusted_equity_after == D("9559.8")
    assert p.maint_margin_after == 350
    assert p.unimmr_after == ratio("9559.8", 350)


def test_um_order_crosses_into_the_third_bracket() -> None:
    # long 5 @ 40,000 (MM 200,000 × 0.5% − 50 = 950) + BUY 2 LIMIT @ 40,000: fee 40
    # 7 BTC = 280,000 ≥ 250k: MM = 280,000 × 1% − 1,300 = 1,500; E = 9,960 → 6.64
    r = risk(WALLET, positions=(pos("BTCUSDT", 5, 40_000),))
    assert r.breakdown().maint_margin_usd == 950
    p = project(r, um_order("BUY", "2", "LIMIT", price="40000"))
    assert p.maint_margin_after == 1_500
    assert p.unimmr_after == D("6.64")
    assert amount(p, "BTCUSDT") == (7, 40_000)


def test_um_partial_close_books_realized_pnl() -> None:
    # long 5 @ 38,000 (uPnL 10,000; MM 950); SELL 2 MARKET at 39,800, fee 39.8
    # realized 2 × (39,800 − 38,000) = 3,600 → wallet 13,560.2; uPnL 3 × 2,000 = 6,000
    # E = 19,560.2 (= 20,000 − 2 × 200 − 39.8); MM 120,000 × 0.5% − 50 = 550
    r = risk(WALLET, positions=(pos("BTCUSDT", 5, 38_000),))
    assert r.uni_mmr() == ratio(20_000, 950)
    p = project(r, um_order("SELL", "2"))
    assert p.adjusted_equity_after == D("19560.2")
    assert p.maint_margin_after == 550
    assert amount(p, "BTCUSDT") == (3, 38_000)
    assert p.balances_after[0].um_wallet == D("13560.2")


def test_um_flip_closes_then_reopens_at_the_fill_price() -> None:
    # long 1 @ 40,000; SELL 3 MARKET at 39,800: fee 59.7; realized 1 × (39,800 − 40,000) = −200
    # short 2 @ 39,800: uPnL −2 × 200 = −400; wallet 10,000 − 200 − 59.7 = 9,740.3
    # E = 9,340.3 (= 10,000 − 3 × 200 − 59.7); MM 80,000 × 0.5% − 50 = 350
    p = project(risk(WALLET, positions=(pos("BTCUSDT", 1, 40_000),)), um_order("SELL", "3"))
    assert amount(p, "BTCUSDT") == (-2, 39_800)
    assert p.balances_after[0].um_wallet == D("9740.3")
    assert p.adjusted_equity_after == D("9340.3")
    assert p.unimmr_after == ratio("9340.3", 350)


def test_reduce_only_is_capped_at_the_position() -> None:
    # long 1; SELL 3 reduceOnly → 1 at 39,800, fee 19.9: ΔE = −200 − 19.9 = −219.9
    # BTC flat; ETH MM 100 remains → (10,000 − 219.9) / 100 = 97.801
    r = risk(WALLET, positions=(pos("BTCUSDT", 1, 40_000), ETH_LONG))
    p = project(r, um_order("SELL", "3", reduceOnly="true"))
    assert amount(p, "BTCUSDT") == (0, 0)
    assert p.unimmr_after == D("97.801")


def test_reduce_only_without_a_position_does_nothing() -> None:
    r = risk(WALLET, positions=(ETH_LONG,))
    p = project(r, um_order("SELL", "3", reduceOnly="true"))
    assert p.unimmr_after == p.unimmr_before == 100


def test_algo_close_position_stop_market() -> None:
    # long 1 @ 40,000; STOP_MARKET SELL closePosition trigger 38,000: 38,000 × 0.995 = 37,810
    # worse-of with mark (SELL: min) = 37,810; fee 18.905; ΔE = −2,190 − 18.905 = −2,208.905
    # E = 7,791.095; ETH MM 100 → 77.91095
    r = risk(WALLET, positions=(pos("BTCUSDT", 1, 40_000), ETH_LONG))
    i = intent(
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        triggerPrice="38000",
        closePosition="true",
    )
    p = project(r, i)
    assert i.kind == "conditional"
    assert p.unimmr_after == D("77.91095")


def test_conditional_stop_limit_projects_at_its_limit() -> None:
    # STOP BUY 1, limit 42,000, trigger 41,500: fill max(42,000, 40,000) = 42,000; fee 21
    # ΔE = −2,000 − 21 → E 7,979; MM 160 (at mark) → 49.86875
    i = intent(
        "/papi/v1/um/conditional/order",
        symbol="BTCUSDT",
        side="BUY",
        strategyType="STOP",
        quantity="1",
        price="42000",
        stopPrice="41500",
    )
    assert project(risk(WALLET), i).unimmr_after == D("49.86875")


def test_take_profit_market_above_mark_fills_at_mark() -> None:
    # long 1 @ 40,000; TP SELL trigger 45,000: 45,000 × 0.995 = 44,775, min with mark → 40,000
    # ΔE = −fee 20; flat; ETH MM 100 → 9,980 / 100 = 99.8
    r = risk(WALLET, positions=(pos("BTCUSDT", 1, 40_000), ETH_LONG))
    i = intent(
        "/papi/v1/um/algo/order",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="TAKE_PROFIT_MARKET",
        triggerPrice="45000",
        quantity="1",
    )
    assert project(r, i).unimmr_after == D("99.8")


def test_trailing_stop_moves_the_worse_reference_by_the_callback() -> None:
    # BUY trailing, activate 39,000, callback 1%: max(39,000, 40,000) × 1.01 = 40,400,
    # × 1.005 slippage = 40,602; fee 20.301; ΔE = −602 − 20.301 → E 9,377.699; MM 160
    i = intent(
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="BUY",
        type="TRAILING_STOP_MARKET",
        activatePrice="39000",
        callbackRate="1",
        quantity="1",
    )
    p = project(risk(WALLET), i)
    assert amount(p, "BTCUSDT") == (1, 40_602)
    assert p.unimmr_after == D("58.61061875")


def test_price_match_is_projected_like_market() -> None:
    # priceMatch=OPPONENT: no price of its own → 40,200 as a MARKET BUY → 61.124375
    p = project(risk(WALLET), um_order("BUY", "1", "LIMIT", priceMatch="OPPONENT"))
    assert p.unimmr_after == D("61.124375")


def test_market_slippage_is_capped_by_percent_price_and_take_bound() -> None:
    # slippage 5% but PERCENT_PRICE up 1.02 → fill 40,800; take bound 1% → fill 40,400
    settings = ProjectionSettings(market_slippage=D("0.05"))
    base = risk(WALLET, settings=settings)
    i = um_order("BUY", "1")
    assert amount(project(base, i), "BTCUSDT") == (1, 42_000)
    from dataclasses import replace

    from tests.unit.margin import builders

    for change, fill in (
        ({"percent_price_up": D("1.02")}, 40_800),
        ({"market_take_bound": D("0.01")}, 40_400),
    ):
        inst = {**builders.INSTRUMENTS}
        inst[("UM", "BTCUSDT")] = replace(inst[("UM", "BTCUSDT")], **change)
        snap = replace(snapshot(WALLET), instruments=inst)
        assert amount(project(AccountRisk.from_snapshot(snap, settings), i), "BTCUSDT") == (1, fill)
    # SELL side: PERCENT_PRICE down 0.97 → 40,000 × 0.97 = 38,800
    inst = {**builders.INSTRUMENTS}
    inst[("UM", "BTCUSDT")] = replace(inst[("UM", "BTCUSDT")], percent_price_down=D("0.97"))
    snap = replace(snapshot(WALLET), instruments=inst)
    p = project(AccountRisk.from_snapshot(snap, settings), um_order("SELL", "1"))
    assert amount(p, "BTCUSDT") == (-1, 38_800)


def test_symbol_commission_overrides_the_default_fee() -> None:
    # taker 0.1% instead of 0.05%: fee 40.2 → E = 10,000 − 200 − 40.2 = 9,759.8
    from dataclasses import replace

    snap = replace(snapshot(WALLET), commissions={("UM", "BTCUSDT"): Commission(D(0), D("0.001"))})
    p = project(AccountRisk.from_snapshot(snap), um_order("BUY", "1"))
    assert p.adjusted_equity_after == D("9759.8")


# -- hedge mode --

HEDGE = (pos("BTCUSDT", 2, 40_000, "LONG"), pos("BTCUSDT", -2, 40_000, "SHORT"))


def test_hedge_open_long_per_leg_brackets() -> None:
    # LONG 2 + 1 at 40,200: fee 20.1, ΔE −220.1 → E 9,779.9
    # LONG 120,000 → 550; SHORT 80,000 → 350; MM 900
    r = risk(WALLET, positions=HEDGE, um_hedge_mode=True)
    p = project(r, um_order("BUY", "1", positionSide="LONG"))
    assert p.maint_margin_after == 900
    assert p.unimmr_after == ratio("9779.9", 900)
    assert amount(p, "BTCUSDT", "LONG") == (3, ratio(2 * 40_000 + 40_200, 3))


def test_hedge_open_long_combined_brackets() -> None:
    # combined: gross 200,000 → 200,000 × 0.5% − 50 = 950 (before: 160,000 → 750)
    settings = ProjectionSettings(hedge_bracketing="combined")
    r = risk(WALLET, positions=HEDGE, um_hedge_mode=True, settings=settings)
    assert r.breakdown().maint_margin_usd == 750
    p = project(r, um_order("BUY", "1", positionSide="LONG"))
    assert p.maint_margin_after == 950


def test_hedge_close_is_capped_at_the_leg() -> None:
    # SELL LONG 3 with LONG 2: capped at 2 at 39,800, fee 39.8; ΔE = −400 − 39.8
    # LONG flat, SHORT keeps 350 → 9,560.2 / 350
    r = risk(WALLET, positions=HEDGE, um_hedge_mode=True)
    p = project(r, um_order("SELL", "3", positionSide="LONG"))
    assert amount(p, "BTCUSDT", "LONG") == (0, 0)
    assert p.unimmr_after == ratio("9560.2", 350)


# -- COIN-M --

CM_WALLET = coin("BTC", cm=1)  # 1 BTC in the CM wallet: 40,000 × 0.95 = 38,000 adjusted


def test_cm_limit_buy_at_mark() -> None:
    # 10 contracts × 100 USD at 40,000: coin notional 0.025 BTC; fee 0.025 × 0.05% = 0.0000125
    # E_BTC = 0.9999875 → 0.9999875 × 40,000 × 0.95 = 37,999.525
    # MM = 0.025 × 0.4% = 0.0001 BTC = 4 USD → 9,499.88125
    i = intent(
        "/papi/v1/cm/order",
        symbol="BTCUSD_PERP",
        side="BUY",
        type="LIMIT",
        quantity="10",
        price="40000",
    )
    p = project(risk(CM_WALLET), i)
    assert row(p, "BTC").equity == D("0.9999875")
    assert row(p, "BTC").cm_maint_margin == D("0.0001")
    assert p.unimmr_after == D("9499.88125")


def test_cm_marketable_limit_charges_inverse_loss() -> None:
    # BUY 10 @ 50,000 vs mark 40,000: ΔE = 1,000 × (1/50,000 − 1/40,000) − 1,000/50,000 × 0.05%
    # = −0.005 − 0.00001 = −0.00501 → E 0.99499 → 37,809.62; MM 4 USD → 9,452.405
    i = intent(
        "/dapi/v1/order",
        symbol="BTCUSD_PERP",
        side="BUY",
        type="LIMIT",
        quantity="10",
        price="50000",
        timeInForce="GTC",
    )
    p = project(risk(CM_WALLET), i)
    assert row(p, "BTC").equity == D("0.99499")
    assert p.unimmr_after == D("9452.405")
    assert amount(p, "BTCUSD_PERP") == (10, 50_000)


def test_cm_order_crosses_a_coin_bracket() -> None:
    # long 1,800 contracts = 4.5 BTC (MM 0.018); BUY 400 @ 40,000 → 2,200 = 5.5 BTC ∈ [5, 50):
    # MM = 5.5 × 0.5% − 0.005 = 0.0225 BTC = 900 USD; fee 4 BTC... 400 × 100 / 40,000 × 0.05%
    # = 0.0005 BTC → E 0.9995 → 37,981 → 37,981 / 900
    r = risk(CM_WALLET, positions=(pos("BTCUSD_PERP", 1_800, 40_000),))
    assert r.breakdown().maint_margin_usd == 720  # 0.018 × 40,000
    i = intent(
        "/papi/v1/cm/order",
        symbol="BTCUSD_PERP",
        side="BUY",
        type="LIMIT",
        quantity="400",
        price="40000",
    )
    p = project(r, i)
    assert p.maint_margin_after == 900
    assert p.unimmr_after == ratio(37_981, 900)


def test_cm_reduce_realizes_inverse_pnl() -> None:
    # long 100 @ 50,000, mark 40,000 (uPnL −0.05); SELL 40 @ 40,000: fee 0.1 × 0.05% = 0.00005
    # realized 4,000 × (1/50,000 − 1/40,000) = −0.02 → cm wallet 1 − 0.02 − 0.00005 = 0.97995
    # uPnL 6,000 × −0.000005 = −0.03 → E 0.94995 → 36,098.1; MM 0.15 × 0.4% = 0.0006 → 24 USD
    r = risk(CM_WALLET, positions=(pos("BTCUSD_PERP", 100, 50_000),))
    i = intent(
        "/papi/v1/cm/order",
        symbol="BTCUSD_PERP",
        side="SELL",
        type="LIMIT",
        quantity="40",
        price="40000",
    )
    p = project(r, i)
    assert p.balances_after[0].cm_wallet == D("0.97995")
    assert amount(p, "BTCUSD_PERP") == (60, 50_000)
    assert p.unimmr_after == D("1504.0875")


# -- Cross Margin --

MARGIN_USDT = usdt(cross=50_000)


def test_margin_market_buy_swaps_balances() -> None:
    # ref 40,000 / 1; fill 40,200; pays 40,200 USDT, receives 1 × (1 − 0.1%) = 0.999 BTC
    # USDT 9,800 + BTC 0.999 × 38,000 = 37,962 → 47,762; ETH MM 100 (no USDT uPnL) → 477.62
    p = project(risk(MARGIN_USDT, positions=(ETH_LONG,)), margin_order("BUY", quantity="1"))
    assert p.adjusted_equity_after == D(47_762)
    assert p.unimmr_after == D("477.62")
    assert {b.asset: b.cross_margin_asset for b in p.balances_after} == {
        "BTC": D("0.999"),
        "USDT": 9_800,
    }


def test_margin_buy_borrows_the_shortfall() -> None:
    # 10,000 USDT free, cost 40,200 → borrow 30,200; E_USDT = −30,200 (no haircut on debt)
    # BTC 0.999 → 37,962; adjusted 7,762; MM = 30,200 × 10% + 100 (ETH) = 3,120
    r = risk(usdt(cross=10_000), positions=(ETH_LONG,))
    p = project(r, margin_order("BUY", quantity="1", sideEffectType="MARGIN_BUY"))
    assert row(p, "USDT").loan_maint_margin == 3_020
    assert p.adjusted_equity_after == 7_762
    assert p.unimmr_after == ratio(7_762, 3_120)


def test_margin_buy_borrows_only_beyond_free_balance() -> None:
    # 50,000 USDT of which 45,000 locked: free 5,000 → borrow 35,200
    from margin_gate.margin import Balance

    locked = Balance("USDT", D(50_000), cross_margin_locked=D(45_000))
    p = project(risk(locked), margin_order("BUY", quantity="1", sideEffectType="AUTO_BORROW_REPAY"))
    assert {b.asset: b.cross_margin_borrowed for b in p.balances_after}["USDT"] == 35_200


def test_auto_repay_sell_repays_the_received_asset() -> None:
    # BTC 1 held; USDT owes 20,000. SELL 0.5 at 39,800 → 19,900 × 0.999 = 19,880.1 repaid
    # USDT borrowed 119.9 (E −119.9); BTC 0.5 → 19,000; loan MM 11.99 + ETH 100
    r = risk(coin("BTC", 1), usdt(borrowed=20_000), positions=(ETH_LONG,))
    p = project(r, margin_order("SELL", quantity="0.5", sideEffectType="AUTO_REPAY"))
    assert row(p, "USDT").equity == D("-119.9")
    assert p.adjusted_equity_after == D("18880.1")
    assert p.maint_margin_after == D("111.99")


def test_auto_repay_pays_interest_first_and_keeps_the_rest() -> None:
    # SELL 1 BTC at 39,800 → 39,760.2 received; owed 100 interest + 1,000 principal → all repaid
    r = risk(coin("BTC", 1), usdt(borrowed=1_000, interest=100))
    p = project(r, margin_order("SELL", quantity="1", sideEffectType="AUTO_REPAY"))
    after = {b.asset: b for b in p.balances_after}["USDT"]
    assert (after.cross_margin_asset, after.cross_margin_borrowed, after.cross_margin_interest) == (
        D("38660.2"),
        0,
        0,
    )


def test_quote_order_qty_buys_quote_over_worst_price() -> None:
    # 8,040 USDT / 40,200 = 0.2 BTC → 0.1998 after fee; USDT 1,960; adjusted 1,960 + 7,592.4
    p = project(risk(usdt(cross=10_000)), margin_order("BUY", quoteOrderQty="8040"))
    assert p.adjusted_equity_after == D("9552.4")


def test_quote_order_qty_sell_sells_quote_over_worst_price() -> None:
    # receive 7,960 USDT (× 0.999 = 7,952.04) for 7,960 / 39,800 = 0.2 BTC
    p = project(risk(coin("BTC", 1)), margin_order("SELL", quoteOrderQty="7960"))
    assert {b.asset: b.cross_margin_asset for b in p.balances_after} == {
        "BTC": D("0.8"),
        "USDT": D("7952.04"),
    }


def test_spot_order_is_a_margin_swap_without_side_effects() -> None:
    # /api/v3/order: NO_SIDE_EFFECT even with 0 USDT: no loan, cross asset goes to −40,200
    p = project(
        risk(usdt(cross=0)),
        intent("/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1"),
    )
    assert {b.asset: b.cross_margin_borrowed for b in p.balances_after} == {"BTC": 0, "USDT": 0}
    assert p.maint_margin_after == 0


def test_oco_takes_the_worse_leg() -> None:
    # SELL 1 BTC: LIMIT_MAKER 42,000 → min(42,000, 40,000) = 40,000 → 39,960 USDT
    # STOP_LOSS 38,000 → 37,810 → 37,772.19 USDT (worse) → 37,772.19 / 100 (ETH MM)
    r = risk(coin("BTC", 1), positions=(ETH_LONG,))
    i = intent(
        "/papi/v1/margin/order/oco",
        symbol="BTCUSDT",
        side="SELL",
        quantity="1",
        price="42000",
        stopPrice="38000",
    )
    p = project(r, i)
    assert p.adjusted_equity_after == D("37772.19")
    assert p.unimmr_after == D("377.7219")
    assert p.worst_case_legs == i.alternatives[1]


def test_oco_first_leg_can_be_the_worse_one() -> None:
    # BUY 1: LIMIT_MAKER 42,000 (above mark: 42,000) vs STOP_LOSS 41,000 → 41,205
    # the limit leg costs more: USDT 100,000 − 42,000; BTC 0.999 → 37,962 → 95,962
    r = risk(usdt(cross=100_000), positions=(ETH_LONG,))
    i = intent(
        "/papi/v1/margin/order/oco",
        symbol="BTCUSDT",
        side="BUY",
        quantity="1",
        price="42000",
        stopPrice="41000",
    )
    p = project(r, i)
    assert p.worst_case_legs == i.alternatives[0]
    assert p.adjusted_equity_after == 95_962


def test_oco_stop_limit_leg_uses_stop_limit_price() -> None:
    # stop-limit 37,000 → min(37,000, 40,000) = 37,000 → 36,963 USDT
    r = risk(coin("BTC", 1), positions=(ETH_LONG,))
    i = intent(
        "/papi/v1/margin/order/oco",
        symbol="BTCUSDT",
        side="SELL",
        quantity="1",
        price="42000",
        stopPrice="38000",
        stopLimitPrice="37000",
    )
    assert project(r, i).adjusted_equity_after == D(36_963)


def test_margin_loan_adds_loan_mm_without_changing_equity() -> None:
    # borrow 1,000 USDT: asset +1,000 and loan +1,000 → E unchanged; MM 100 (loan) + 100 (ETH)
    r = risk(usdt(cross=5_000), positions=(ETH_LONG,))
    p = project(r, intent("/papi/v1/marginLoan", asset="USDT", amount="1000"))
    assert p.adjusted_equity_after == 5_000
    assert p.maint_margin_after == 200
    assert p.unimmr_after == 25


def test_repay_loan_pays_interest_first() -> None:
    # asset 2,000, borrowed 1,000, interest 10; repay 500: interest 10, principal 490
    # E 990 unchanged; loan MM (incl. interest) 101 → 51
    r = risk(usdt(cross=2_000, borrowed=1_000, interest=10))
    p = project(r, intent("/papi/v1/repayLoan", asset="USDT", amount="500"))
    b = p.balances_after[0]
    assert (b.cross_margin_asset, b.cross_margin_borrowed, b.cross_margin_interest) == (
        1_500,
        510,
        0,
    )
    assert p.maint_margin_after == 51
    assert p.unimmr_before == ratio(990, 101)


def test_repay_debt_without_amount_repays_everything() -> None:
    r = risk(usdt(cross=2_000, borrowed=1_000, interest=10))
    p = project(r, intent("/papi/v1/margin/repay-debt", asset="USDT"))
    assert p.balances_after[0].cross_margin_asset == 990
    assert p.unimmr_after == INFINITY


def test_loan_mm_can_exclude_interest() -> None:
    # borrowed 1,000 + interest 10: MM 100 instead of 101
    settings = ProjectionSettings(loan_mm_includes_interest=False)
    r = risk(usdt(cross=2_000, borrowed=1_000, interest=10), settings=settings)
    assert r.breakdown().maint_margin_usd == 100


# -- batch, modify, pending --


def test_batch_projects_all_legs_together() -> None:
    # BTC BUY 1: ΔE −220.1, MM 160; ETH SELL 10 at 1,990: ΔE = −10 × (2,000 − 1,990) − 9.95
    # E = 10,000 − 220.1 − 109.95 = 9,669.95; MM 160 + 100 = 260
    batch = (
        '[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"1"},'
        '{"symbol":"ETHUSDT","side":"SELL","type":"MARKET","quantity":10}]'
    )
    p = project(risk(WALLET), intent("/fapi/v1/batchOrders", batchOrders=batch))
    assert p.adjusted_equity_after == D("9669.95")
    assert p.maint_margin_after == 260
    assert p.balances_after[0].um_wallet == D("10000") - D("20.1") - D("9.95")


def resting(order_id: str, side: str, qty: str, price: str, **kw: object) -> OpenOrder:
    return OpenOrder("UM", "BTCUSDT", order_id, side, "LIMIT", D(qty), D(price), **kw)  # type: ignore[arg-type]


def test_modify_replaces_the_resting_order() -> None:
    # resting BUY 1 @ 39,000 (passive → fills at mark, fee 20, MM 160): before 9,980 / 160
    # modify to 2 @ 41,000: ΔE = 2 × −1,000 − 41 = −2,041 → 7,959; MM 350 → 22.74
    r = risk(WALLET, open_orders=(resting("7", "BUY", "1", "39000", client_order_id="c7"),))
    assert r.uni_mmr() == D("62.375")
    for ref in ({"orderId": "7"}, {"origClientOrderId": "c7"}):
        i = intent(
            "/papi/v1/um/order",
            "PUT",
            symbol="BTCUSDT",
            side="BUY",
            quantity="2",
            price="41000",
            **ref,
        )
        p = project(r, i)
        assert p.unimmr_before == D("62.375")
        assert p.unimmr_after == D("22.74")


def test_modify_of_an_unknown_order_counts_the_new_order_in_full() -> None:
    r = risk(WALLET, open_orders=(resting("7", "BUY", "1", "39000"),))
    i = intent(
        "/fapi/v1/order",
        "PUT",
        symbol="BTCUSDT",
        side="BUY",
        quantity="2",
        price="41000",
        orderId="8",
    )
    # resting 1 @ mark + new 2 @ 41,000: E = 10,000 − 20 − 2,041; 3 BTC = 120,000 → 550
    assert project(r, i).unimmr_after == ratio(7_939, 550)


def test_modify_keeps_the_original_reduce_only_and_position_side() -> None:
    # resting reduceOnly SELL 1 on long 1: the modify to qty 5 is still capped at 1
    r = risk(
        WALLET,
        positions=(pos("BTCUSDT", 1, 40_000), ETH_LONG),
        open_orders=(resting("9", "SELL", "1", "41000", reduce_only=True),),
    )
    i = intent(
        "/papi/v1/um/order",
        "PUT",
        symbol="BTCUSDT",
        side="SELL",
        quantity="5",
        price="41000",
        orderId="9",
    )
    p = project(r, i)
    assert amount(p, "BTCUSDT") == (0, 0)


def test_in_flight_orders_on_the_same_side_stack() -> None:
    # two in-flight BUY 1 MARKET + candidate BUY 1: 3 BTC at 40,200, fees 60.3
    # E = 10,000 − 600 − 60.3 = 9,339.7; 120,000 → 550. Before: 2 BTC → 9,559.8 / 350
    r = risk(WALLET)
    leg = um_order("BUY", "1").legs
    r.add_pending(PendingOrder("a", leg, in_flight=True))
    r.add_pending(PendingOrder("b", leg, in_flight=True))
    p = project(r, um_order("BUY", "1"))
    assert p.unimmr_before == ratio("9559.8", 350)
    assert p.unimmr_after == ratio("9339.7", 550)


def test_pending_takes_the_worse_side_not_both() -> None:
    # pending BUY 1 and SELL 1; candidate BUY 1. BUY side: long 2, ΔE −440.2, MM 350, score
    # −440.2 − 1.5 × 350 = −965.2. SELL side: flat, ΔE −220.1 − 219.9 = −440, score −440.
    # BUY side is worse → 9,559.8 / 350
    r = risk(WALLET)
    r.add_pending(PendingOrder("b", um_order("BUY", "1").legs, in_flight=True))
    r.add_pending(PendingOrder("s", um_order("SELL", "1").legs, in_flight=True))
    assert project(r, um_order("BUY", "1")).unimmr_after == ratio("9559.8", 350)


def test_resting_orders_can_be_left_out() -> None:
    settings = ProjectionSettings(include_resting_orders=False)
    r = risk(WALLET, open_orders=(resting("7", "BUY", "5", "41000"),), settings=settings)
    assert project(r, um_order("BUY", "1")).unimmr_after == D("61.124375")


def test_conditional_mode_reduce_only_refuses_opening_conditionals() -> None:
    settings = ProjectionSettings(conditional_mode="reduce_only")
    r = risk(WALLET, positions=(pos("BTCUSDT", 1, 40_000),), settings=settings)
    opening = intent(
        "/papi/v1/um/algo/order",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="BUY",
        type="STOP_MARKET",
        triggerPrice="41000",
        quantity="1",
    )
    closing = intent(
        "/papi/v1/um/algo/order",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        triggerPrice="39000",
        quantity="1",
        reduceOnly="true",
    )
    assert project(r, opening).refusal == CONDITIONAL_REFUSED
    assert project(r, closing).refusal is None
    assert project(r, um_order("BUY", "1")).refusal is None
    batch = (
        '[{"symbol":"BTCUSDT","side":"BUY","type":"STOP_MARKET","stopPrice":"41000",'
        '"quantity":"1"}]'
    )
    assert (
        project(r, intent("/fapi/v1/batchOrders", batchOrders=batch)).refusal == CONDITIONAL_REFUSED
    )


# -- collateral, negative balances --


def test_negative_balance_stays_at_full_weight() -> None:
    # USDT um wallet −500, BTC 1 cross (38,000), ETH MM 100: before (38,000 − 500) / 100 = 375
    # BUY 1 BTCUSDT: ΔE −220.1 → USDT −720.1; MM 100 + 160 → (38,000 − 720.1) / 260
    r = risk(usdt(um=-500), coin("BTC", 1), positions=(ETH_LONG,))
    p = project(r, um_order("BUY", "1"))
    assert p.unimmr_before == 375
    assert p.unimmr_after == ratio("37279.9", 260)


TIERS = (CollateralTier(D(0), D(100_000), D("0.95")), CollateralTier(D(100_000), None, D("0.5")))


def test_tiered_collateral_by_usd_value() -> None:
    # BTC 5 → 200,000 USD: 100,000 × 0.95 + 100,000 × 0.5 = 145,000
    # margin BUY 1 (0.999 BTC): 5.999 × 40,000 = 239,960 → 95,000 + 139,960 × 0.5 = 164,980
    # USDT 50,000 − 40,200 = 9,800 → adjusted 174,780
    r = risk(coin("BTC", 5), MARGIN_USDT, rates={"BTC": TIERS})
    assert r.breakdown().adjusted_equity_usd == 195_000  # 145,000 + 50,000
    assert project(r, margin_order("BUY", quantity="1")).adjusted_equity_after == 174_780


def test_tiered_collateral_by_quantity() -> None:
    # tiers in BTC: 2 × 0.95 + 3.999 × 0.5 = 3.8995 BTC × 40,000 = 155,980 (+ 9,800 USDT)
    qty_tiers = (CollateralTier(D(0), D(2), D("0.95")), CollateralTier(D(2), D(3), D("0.5")))
    settings = ProjectionSettings(collateral_tier_basis="quantity")
    r = risk(coin("BTC", 5), MARGIN_USDT, rates={"BTC": qty_tiers}, settings=settings)
    assert project(r, margin_order("BUY", quantity="1")).adjusted_equity_after == 165_780


def test_unlisted_asset_gets_the_default_collateral_rate() -> None:
    # DOGE 1,000 at 0.1 USD: default rate 0 → no credit; with 0.1 → 10 USD
    snap_prices = {"DOGE": D("0.1")}
    assert risk(coin("DOGE", 1_000), prices=snap_prices).breakdown().adjusted_equity_usd == 0
    settings = ProjectionSettings(default_collateral_rate=D("0.1"))
    r = risk(coin("DOGE", 1_000), prices=snap_prices, settings=settings)
    assert r.breakdown().adjusted_equity_usd == 10


@pytest.mark.parametrize(
    "bad",
    [
        {"market_slippage": D(1)},
        {"default_taker_fee": D(-1)},
        {"default_collateral_rate": D("1.1")},
        {"pending_buffer": D(-1)},
    ],
)
def test_settings_refuse_meaningless_values(bad) -> None:
    with pytest.raises(ValueError, match="outside"):
        ProjectionSettings(**bad)


def test_missing_mark_for_the_order_symbol_fails_closed() -> None:
    from dataclasses import replace

    snap = replace(snapshot(WALLET), mark_prices={})
    with pytest.raises(SnapshotError, match="mark"):
        project(AccountRisk.from_snapshot(snap), um_order("BUY", "1"))
