"""is_risk_reducing: only orders that can only shrink risk; never a risk-increasing one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from margin_gate.margin import OpenOrder
from margin_gate.margin import PendingOrder
from margin_gate.margin import is_risk_reducing
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from tests.unit.margin.builders import coin
from tests.unit.margin.builders import intent
from tests.unit.margin.builders import margin_order
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import risk
from tests.unit.margin.builders import um_order
from tests.unit.margin.builders import usdt

D = Decimal
LONG_5 = (pos("BTCUSDT", 5, 40_000),)


def pending(r, key: str, side: str, qty: str, **kw: object) -> None:
    leg = OrderLeg("UM", "BTCUSDT", side, D(qty), at_market=True, **kw)  # type: ignore[arg-type]
    r.add_pending(PendingOrder(key, (leg,), in_flight=True))


def test_shrinking_a_position_is_reducing() -> None:
    r = risk(usdt(um=1_000), positions=LONG_5)
    assert is_risk_reducing(r, um_order("SELL", "5"))
    assert is_risk_reducing(r, um_order("SELL", "2", "LIMIT", price="39000"))


@pytest.mark.parametrize(
    "order",
    [
        um_order("BUY", "1"),  # adds to the long
        um_order("SELL", "6"),  # flips it
        um_order("BUY", "1", symbol="ETHUSDT"),  # no position at all
        um_order("SELL", "1", symbol="ETHUSDT", reduceOnly="true"),  # nothing to reduce
    ],
)
def test_adding_flipping_or_nothing_to_reduce_is_not(order) -> None:
    assert not is_risk_reducing(risk(usdt(um=1_000), positions=LONG_5), order)


def test_reduce_only_and_close_position_are_capped_by_the_exchange() -> None:
    r = risk(usdt(um=1_000), positions=LONG_5)
    assert is_risk_reducing(r, um_order("SELL", "50", reduceOnly="true"))
    close = intent(
        "/fapi/v1/algoOrder",
        algoType="CONDITIONAL",
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        triggerPrice="39000",
        closePosition="true",
    )
    assert is_risk_reducing(r, close)
    # with only reduce-only orders resting on the same side, still safe
    pending(r, "tp", "SELL", "5", reduce_only=True)
    assert is_risk_reducing(r, um_order("SELL", "5", reduceOnly="true"))


def test_pending_orders_on_the_same_side_count() -> None:
    # long 5; pending plain SELL 4: SELL 1 more is fine (5), SELL 2 could flip (6)
    r = risk(usdt(um=1_000), positions=LONG_5)
    pending(r, "p", "SELL", "4")
    assert is_risk_reducing(r, um_order("SELL", "1"))
    assert not is_risk_reducing(r, um_order("SELL", "2"))
    # a reduce-only close with a plain same-side order pending could let that one flip further
    assert not is_risk_reducing(r, um_order("SELL", "5", reduceOnly="true"))
    assert is_risk_reducing(r, um_order("SELL", "1", reduceOnly="true"))


def test_pending_orders_on_the_other_side_do_not_block() -> None:
    r = risk(usdt(um=1_000), positions=LONG_5)
    pending(r, "b", "BUY", "3")
    assert is_risk_reducing(r, um_order("SELL", "5"))


def test_hedge_mode_close_counts_per_leg() -> None:
    legs = (pos("BTCUSDT", 2, 40_000, "LONG"), pos("BTCUSDT", -2, 40_000, "SHORT"))
    r = risk(usdt(um=1_000), positions=legs, um_hedge_mode=True)
    assert is_risk_reducing(r, um_order("SELL", "2", positionSide="LONG"))
    assert not is_risk_reducing(r, um_order("SELL", "3", positionSide="LONG"))
    assert is_risk_reducing(r, um_order("BUY", "1", positionSide="SHORT"))
    assert not is_risk_reducing(r, um_order("SELL", "1", positionSide="SHORT"))


def test_batch_legs_count_as_pending_for_each_other() -> None:
    r = risk(usdt(um=1_000), positions=LONG_5)
    two = (
        '[{"symbol":"BTCUSDT","side":"SELL","type":"MARKET","quantity":"3"},'
        '{"symbol":"BTCUSDT","side":"SELL","type":"MARKET","quantity":"%s"}]'
    )
    assert is_risk_reducing(r, intent("/fapi/v1/batchOrders", batchOrders=two % "2"))
    assert not is_risk_reducing(r, intent("/fapi/v1/batchOrders", batchOrders=two % "3"))


def test_modify_is_judged_without_the_order_it_replaces() -> None:
    order = OpenOrder("UM", "BTCUSDT", "7", "SELL", "LIMIT", D(5), D(41_000))
    r = risk(usdt(um=1_000), positions=LONG_5, open_orders=(order,))
    assert not is_risk_reducing(r, um_order("SELL", "1"))  # 5 resting + 1 > 5
    modify = intent(
        "/papi/v1/um/order",
        "PUT",
        symbol="BTCUSDT",
        side="SELL",
        quantity="4",
        price="41000",
        orderId="7",
    )
    assert is_risk_reducing(r, modify)


def test_loans() -> None:
    r = risk(usdt(cross=1_000, borrowed=500))
    assert is_risk_reducing(r, intent("/papi/v1/repayLoan", asset="USDT", amount="100"))
    assert is_risk_reducing(r, intent("/papi/v1/margin/repay-debt", asset="USDT"))
    assert not is_risk_reducing(r, intent("/papi/v1/marginLoan", asset="USDT", amount="100"))


def test_margin_auto_repay_within_liability_and_free_balance() -> None:
    # owe 20,000 USDT, hold 1 BTC: SELL 0.4 → at most 0.4 × 40,200 = 16,080 USDT ≤ 20,000
    r = risk(coin("BTC", 1), usdt(borrowed=20_000))
    assert is_risk_reducing(r, margin_order("SELL", quantity="0.4", sideEffectType="AUTO_REPAY"))
    # SELL 0.6 could bring 24,120 > 20,000: the rest would be a plain swap
    assert not is_risk_reducing(
        r, margin_order("SELL", quantity="0.6", sideEffectType="AUTO_REPAY")
    )
    # SELL 2 BTC with only 1 held: would need more BTC than is free
    assert not is_risk_reducing(r, margin_order("SELL", quantity="2", sideEffectType="AUTO_REPAY"))
    # exact quote proceeds: 10,000 USDT for at most 10,000 / 39,800 BTC
    assert is_risk_reducing(
        r, margin_order("SELL", quoteOrderQty="10000", sideEffectType="AUTO_REPAY")
    )


def test_margin_auto_repay_buy() -> None:
    # owe 2 BTC, hold 100,000 USDT: BUY 1 BTC LIMIT 41,000 costs ≤ 41,000 and repays ≤ 1 BTC
    r = risk(coin("BTC", borrowed=2), usdt(cross=100_000))
    assert is_risk_reducing(
        r, margin_order("BUY", "LIMIT", quantity="1", price="41000", sideEffectType="AUTO_REPAY")
    )
    # quoteOrderQty BUY: the BTC received is unbounded → not provably within the debt
    assert not is_risk_reducing(
        r, margin_order("BUY", quoteOrderQty="1000", sideEffectType="AUTO_REPAY")
    )


@pytest.mark.parametrize("effect", ["NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_BORROW_REPAY"])
def test_other_margin_orders_are_risk_increasing(effect: str) -> None:
    r = risk(coin("BTC", 1), usdt(borrowed=20_000))
    assert not is_risk_reducing(r, margin_order("SELL", quantity="0.1", sideEffectType=effect))


def test_pending_margin_and_loan_flows_use_up_debt_and_balance() -> None:
    r = risk(coin("BTC", 1), usdt(borrowed=20_000))
    order = margin_order("SELL", quantity="0.3", sideEffectType="AUTO_REPAY")
    assert is_risk_reducing(r, order)
    # another pending auto-repay SELL 0.3 (≤ 12,060 USDT) plus this one > 20,000 of debt
    r.add_pending(PendingOrder("a", order.legs, in_flight=True))
    assert not is_risk_reducing(r, order)
    r.remove_pending("a")
    # a pending repay of 10,000 USDT leaves 10,000 of debt: 0.3 BTC (≤ 12,060) is too much
    r.add_pending(PendingOrder("r", (LoanLeg("USDT", "REPAY", D(10_000)),)))
    assert not is_risk_reducing(r, order)
    r.remove_pending("r")
    # a pending repay of the whole BTC... spends BTC balance (1 BTC owed? none): repay None = ∞
    r.add_pending(PendingOrder("all", (LoanLeg("BTC", "REPAY", None),)))
    assert not is_risk_reducing(r, order)
    r.remove_pending("all")
    # a pending borrow changes nothing for this check
    r.add_pending(PendingOrder("b", (LoanLeg("BTC", "BORROW", D(1)),)))
    assert is_risk_reducing(r, order)


def test_oco_must_be_reducing_on_both_legs() -> None:
    r = risk(coin("BTC", 1), usdt(borrowed=50_000))
    both = intent(
        "/papi/v1/margin/order/oco",
        symbol="BTCUSDT",
        side="SELL",
        quantity="1",
        price="42000",
        stopPrice="38000",
        sideEffectType="AUTO_REPAY",
    )
    assert is_risk_reducing(r, both)
    small_debt = risk(coin("BTC", 1), usdt(borrowed=39_000))
    assert not is_risk_reducing(small_debt, both)  # the limit leg may bring in 42,210
