"""AccountRisk: running totals equal a from-scratch compute(), after every kind of update."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from margin_gate.margin import AccountRisk
from margin_gate.margin import AccountSnapshot
from margin_gate.margin import Balance
from margin_gate.margin import OpenOrder
from margin_gate.margin import PendingOrder
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import SnapshotError
from margin_gate.margin import compute
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from tests.unit.margin.builders import ETH_LONG
from tests.unit.margin.builders import SETTINGS
from tests.unit.margin.builders import coin
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import risk
from tests.unit.margin.builders import snapshot
from tests.unit.margin.builders import um_order
from tests.unit.margin.builders import usdt

D = Decimal


def same(r: AccountRisk, snap: AccountSnapshot) -> None:
    """The aggregate without pending orders equals compute() of the equivalent snapshot."""
    assert r.breakdown() == compute(snap, SETTINGS)


def test_incremental_updates_match_a_rebuild() -> None:
    balances = [usdt(um=10_000, cross=500), coin("BTC", 1, cm=D("0.5")), coin("ETH", 3, 1)]
    positions = [pos("BTCUSDT", 2, 39_000), pos("BTCUSD_PERP", -300, 41_000), ETH_LONG]
    snap = snapshot(*balances, positions=tuple(positions))
    r = AccountRisk.from_snapshot(snap, SETTINGS)
    same(r, snap)

    r.update_position(pos("BTCUSDT", 7, 39_500))  # into the third bracket
    positions[0] = pos("BTCUSDT", 7, 39_500)
    same(r, snap := replace(snap, positions=tuple(positions)))

    r.update_mark_price("BTCUSD_PERP", D(35_000))
    same(r, snap := replace(snap, mark_prices={**snap.mark_prices, "BTCUSD_PERP": D(35_000)}))

    r.update_index_price("ETH", D(2_500))
    same(r, snap := replace(snap, index_prices={**snap.index_prices, "ETH": D(2_500)}))

    r.update_balance(coin("ETH", 3, 2, D("0.1")))
    balances[2] = coin("ETH", 3, 2, D("0.1"))
    same(r, snap := replace(snap, balances=tuple(balances)))

    # a new asset without an index price fails closed; once priced, it counts
    with pytest.raises(SnapshotError, match="BNB"):
        r.update_balance(coin("BNB", 4))
    r.update_index_price("BNB", D(600))
    balances.append(coin("BNB", 4))
    snap = replace(
        snap, balances=tuple(balances), index_prices={**snap.index_prices, "BNB": D(600)}
    )
    same(r, snap)


def test_closing_every_position_snaps_back_to_exact_zero_and_infinity() -> None:
    snap = snapshot(usdt(um=1_000), coin("BTC", cm=1), positions=(pos("BTCUSD_PERP", 3, 41_000),))
    r = AccountRisk.from_snapshot(snap, SETTINGS)
    r.update_mark_price("BTCUSD_PERP", D("39999.7"))  # inexact inverse PnL
    r.update_position(pos("BTCUSD_PERP", 0, 0))
    assert r.uni_mmr() == INFINITY
    assert r.positions() == []
    assert r.breakdown().maint_margin_usd == 0
    assert r.breakdown() == compute(replace(snap, positions=()), SETTINGS)


def test_mark_update_for_a_symbol_without_position_is_remembered() -> None:
    r = risk(usdt(um=10_000))
    r.update_mark_price("ETHUSDT", D(3_000))
    assert r.mark_price("ETHUSDT") == 3_000
    r.update_position(pos("ETHUSDT", 1, 3_000))
    assert r.breakdown().maint_margin_usd == 15  # 3,000 × 0.5%
    with pytest.raises(SnapshotError, match="mark"):
        r.mark_price("DOGEUSDT")


def test_read_accessors() -> None:
    r = risk(usdt(um=10_000), positions=(ETH_LONG,))
    assert r.position("ETHUSDT", "BOTH") == ETH_LONG
    assert r.position("ETHUSDT", "LONG") is None
    assert r.position("BTCUSDT", "BOTH") is None
    assert r.balance("USDT").um_wallet == 10_000
    assert r.balance("XRP") == Balance("XRP")
    assert r.snapshot.um_hedge_mode is False
    assert r.loan_rate("USDT") == D("0.10")
    assert r.fee_rate(("MARGIN", "BTCUSDT")) == D("0.001")
    with pytest.raises(SnapshotError, match="instrument"):
        r.instrument(("UM", "NOPE"))
    with pytest.raises(SnapshotError, match="index price"):
        r.index_price("NOPE")
    with pytest.raises(SnapshotError, match="brackets"):
        AccountRisk.from_snapshot(replace(snapshot(), brackets={}, positions=(ETH_LONG,)))


def test_duplicates_in_a_snapshot_are_refused() -> None:
    with pytest.raises(SnapshotError, match="balance USDT twice"):
        risk(usdt(um=1), usdt(um=2))
    with pytest.raises(SnapshotError, match="position ETHUSDT twice"):
        risk(positions=(ETH_LONG, ETH_LONG))


def test_zero_positions_in_a_snapshot_are_ignored() -> None:
    r = risk(usdt(um=1), positions=(pos("BTCUSDT", 0, 0), pos("ETHUSDT", 0, 0, "LONG")))
    assert r.positions() == []


def test_open_loss_update() -> None:
    r = risk(usdt(um=1_000), positions=(ETH_LONG,))
    r.update_open_loss(D(-50))
    assert r.uni_mmr() == D("9.5")  # (1,000 − 50) / 100
    assert r.breakdown().open_loss_usd == 50


def test_breakdown_with_pending_orders() -> None:
    r = risk(usdt(um=10_000))
    r.add_pending(PendingOrder("x", um_order("BUY", "1").legs))
    assert r.uni_mmr(with_pending=False) == INFINITY
    with_pending = r.breakdown(with_pending=True)
    assert with_pending.maint_margin_usd == 160
    assert with_pending.assets[0].equity == D("9779.9")
    assert r.uni_mmr() == D("61.124375")
    r.remove_pending("x")
    assert r.uni_mmr() == INFINITY
    r.remove_pending("x")  # unknown keys are ignored


def test_pending_effects_follow_mark_and_position_updates() -> None:
    # pending BUY 1 MARKET: at mark 40,000 → MM 160; mark 50,000 → 50,000 × 0.5% − 50 = 200
    r = risk(usdt(um=100_000))
    r.add_pending(PendingOrder("x", um_order("BUY", "1").legs))
    r.update_mark_price("BTCUSDT", D(50_000))
    assert r.breakdown(with_pending=True).maint_margin_usd == 200
    # a long 1 appears: the pending BUY now makes it 2 → 100,000 × 0.5% − 50 = 450
    r.update_position(pos("BTCUSDT", 1, 50_000))
    assert r.breakdown(with_pending=True).maint_margin_usd == 450
    assert r.breakdown().maint_margin_usd == 200
    r.update_mark_price("BTCUSDT", D(40_000))
    assert r.breakdown(with_pending=True).maint_margin_usd == 350


def test_a_pending_order_whose_worst_case_was_nothing_is_refreshed_too() -> None:
    # short 1: a pending BUY 1 closes it (MM 160 → 0, score −220.1 + 1.5 × 160 > 0), so the
    # worst case is that it does not fill. Once flat, the same BUY opens a long: MM 160.
    r = risk(usdt(um=10_000), positions=(pos("BTCUSDT", -1, 40_000),))
    r.add_pending(PendingOrder("x", um_order("BUY", "1").legs))
    assert r.breakdown(with_pending=True).maint_margin_usd == 160  # the short itself
    r.update_position(pos("BTCUSDT", 0, 0))
    assert r.breakdown(with_pending=True).maint_margin_usd == 160  # the pending BUY
    r.update_mark_price("BTCUSDT", D(50_000))
    assert r.breakdown(with_pending=True).maint_margin_usd == 200


def test_pending_margin_effects_follow_balances_and_index_prices() -> None:
    # pending margin BUY 1 BTC with MARGIN_BUY and 0 USDT: borrows 40,200 → loan MM 4,020
    r = risk(usdt(cross=0), positions=(ETH_LONG,))
    leg = OrderLeg("MARGIN", "BTCUSDT", "BUY", D(1), at_market=True, side_effect="MARGIN_BUY")
    r.add_pending(PendingOrder("m", (leg,)))
    assert r.breakdown(with_pending=True).loan_maint_margin_usd == D("4020")
    r.update_balance(usdt(cross=40_200))  # now nothing to borrow
    assert r.breakdown(with_pending=True).loan_maint_margin_usd == 0
    r.update_index_price("BTC", D(50_000))  # fill 50,250: shortfall 10,050 → MM 1,005
    assert r.breakdown(with_pending=True).loan_maint_margin_usd == 1_005
    r.update_index_price("XRP", D(1))  # unrelated, unknown asset


def test_pending_loans_count_borrows_only() -> None:
    r = risk(usdt(cross=1_000), positions=(ETH_LONG,))
    r.add_pending(PendingOrder("b", (LoanLeg("USDT", "BORROW", D(1_000)),)))
    r.add_pending(PendingOrder("r", (LoanLeg("USDT", "REPAY", D(500)),)))
    assert r.breakdown(with_pending=True).loan_maint_margin_usd == 100
    r.remove_pending("b")
    assert r.breakdown(with_pending=True).loan_maint_margin_usd == 0


def test_add_pending_is_atomic_when_a_price_is_missing() -> None:
    r = risk(usdt(um=1))
    bad = PendingOrder("x", (OrderLeg("UM", "NOPEUSDT", "BUY", D(1)),))
    with pytest.raises(SnapshotError):
        r.add_pending(bad)
    assert "x" not in r.pending
    r.add_pending(PendingOrder("y", ()))
    with pytest.raises(ValueError, match="already"):
        r.add_pending(PendingOrder("y", ()))


def test_resting_orders_from_the_snapshot_are_pending() -> None:
    order = OpenOrder("UM", "BTCUSDT", "5", "BUY", "LIMIT", D(1), D(39_000), client_order_id="c")
    r = risk(usdt(um=10_000), open_orders=(order,))
    assert len(r.pending) == 1
    assert r.uni_mmr() == D("62.375")  # fills at mark: 9,980 / 160
    off = risk(
        usdt(um=10_000),
        open_orders=(order,),
        settings=ProjectionSettings(include_resting_orders=False),
    )
    assert len(off.pending) == 0


def test_build_does_not_depend_on_input_order() -> None:
    balances = (usdt(um=10_000, cross=1), coin("BTC", 1, cm=D("0.3")), coin("ETH", 2, 1))
    positions = (
        pos("BTCUSD_PERP", -7, 43_000),
        ETH_LONG,
        pos("BTCUSDT", 1, 39_000, "LONG"),
        pos("BTCUSDT", -2, 41_000, "SHORT"),
    )
    orders = (
        OpenOrder("UM", "BTCUSDT", "1", "BUY", "LIMIT", D(1), D(41_000), position_side="LONG"),
        OpenOrder("CM", "BTCUSD_PERP", "2", "SELL", "MARKET", D(3)),
        OpenOrder(
            "MARGIN", "ETHUSDT", "3", "SELL", "LIMIT", D(1), D(1_900), side_effect="AUTO_REPAY"
        ),
    )
    a = risk(*balances, positions=positions, open_orders=orders, um_hedge_mode=True)
    b = risk(
        *reversed(balances), positions=positions[::-1], open_orders=orders[::-1], um_hedge_mode=True
    )
    assert a.breakdown(with_pending=True) == b.breakdown(with_pending=True)
    assert a.uni_mmr() == b.uni_mmr()
