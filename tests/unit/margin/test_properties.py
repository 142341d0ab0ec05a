"""hypothesis properties of the margin engine.

What each test proves, precisely:
- reducing orders: for an order `is_risk_reducing` accepts, filled at mark (slippage 0), with
  no other pending orders: MM does not rise, the position does not flip, adjusted equity falls
  by at most the fee's USD value, so uniMMR_after ≥ uniMMR_before − fee_usd / MM_before
  whenever the adjusted equity after is ≥ 0 (with negative equity, shrinking MM makes the
  ratio more negative, so no such bound exists).
- monotone: for futures orders that open or add to a position (and Cross Margin MARGIN_BUY
  buys of BTC with USDT), q1 ≤ q2 ⇒ uniMMR(q1) ≥ uniMMR(q2) while the adjusted equity after
  q2 is ≥ 0.
- round trip: BUY q then SELL q, both at mark, applied to the aggregate through the
  projection's positions_after / balances_after: amounts, MM and collateral-free equity come
  back, less exactly the two fees (entry prices may differ: a partial close keeps the
  averaged entry and books the difference as realized PnL).
- order independence: shuffling balances, positions and open orders changes nothing, exactly.
- direction: whenever `is_risk_reducing` is True, with pending orders on the same position,
  the projection's MM (with the pending worst case) does not rise and, without pending
  orders, no position flips.
- incremental updates equal a rebuild (to 1e-20 relative; only inverse PnL rounds).
"""

from __future__ import annotations

import os
from dataclasses import replace
from decimal import Decimal
from decimal import localcontext

from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from margin_gate.margin import AccountRisk
from margin_gate.margin import AccountSnapshot
from margin_gate.margin import OpenOrder
from margin_gate.margin import PendingOrder
from margin_gate.margin import Position
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import compute
from margin_gate.margin import is_risk_reducing
from margin_gate.margin import project
from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.legs import OrderLeg
from tests.unit.margin.builders import ETH_LONG
from tests.unit.margin.builders import coin
from tests.unit.margin.builders import intent
from tests.unit.margin.builders import margin_order
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import snapshot
from tests.unit.margin.builders import um_order
from tests.unit.margin.builders import usdt

D = Decimal
AT_MARK = ProjectionSettings(market_slippage=D(0))
TAKER = D("0.0005")
FAST = settings(
    max_examples=int(os.environ.get("MG_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- strategies --

money = st.integers(0, 2_000_000).map(D)
btc_qty = st.integers(1, 9_000).map(lambda n: D(n) / 1_000)  # 0.001 .. 9 BTC
contracts = st.integers(1, 3_000).map(D)
marks = st.integers(20_000, 60_000).map(D)


@st.composite
def accounts(draw: st.DrawFn, hedge: bool | None = False) -> AccountSnapshot:
    """USDT, BTC and ETH balances (some owed), and positions on all three futures symbols;
    hedge None: one-way or hedge mode at random."""
    if hedge is None:
        hedge = draw(st.booleans())
    balances = (
        usdt(um=draw(money), cross=draw(money), borrowed=draw(st.integers(0, 5_000))),
        coin("BTC", draw(st.integers(0, 5)), draw(st.integers(0, 2)), cm=draw(st.integers(0, 3))),
        coin("ETH", draw(st.integers(0, 50)), draw(st.integers(0, 20))),
    )
    positions: list[Position] = [ETH_LONG]
    sides = ("LONG", "SHORT") if hedge else ("BOTH",)
    for side in sides:
        sign = -1 if side == "SHORT" or (side == "BOTH" and draw(st.booleans())) else 1
        if draw(st.booleans()):
            positions.append(pos("BTCUSDT", sign * draw(btc_qty), draw(marks), side))
        if draw(st.booleans()):
            positions.append(pos("BTCUSD_PERP", sign * draw(contracts), draw(marks), side))
    return snapshot(
        *balances,
        positions=tuple(positions),
        marks={"BTCUSDT": draw(marks), "BTCUSD_PERP": draw(marks)},
        um_hedge_mode=hedge,
        cm_hedge_mode=hedge,
    )


TOLERANCE = D("1e-20")


def close(a: Decimal, b: Decimal, rel: Decimal = TOLERANCE) -> bool:
    return abs(a - b) <= rel * max(D(1), abs(a), abs(b))


def futures_order(symbol: str, side: str, qty: Decimal, **params: str):
    if symbol == "BTCUSDT":
        return um_order(side, str(qty), **params)
    return intent(
        "/papi/v1/cm/order", symbol=symbol, side=side, type="MARKET", quantity=str(qty), **params
    )


def fee_usd(symbol: str, qty: Decimal, snap: AccountSnapshot) -> Decimal:
    mark = snap.mark_prices[symbol]
    with localcontext(ENGINE_CONTEXT):
        if symbol == "BTCUSDT":
            return qty * mark * TAKER
        return qty * 100 / mark * TAKER * snap.index_prices["BTC"]


# -- properties --


@FAST
@given(accounts(), st.sampled_from(["BTCUSDT", "BTCUSD_PERP"]), st.integers(1, 100), st.booleans())
def test_reducing_order_costs_at_most_its_fee(snap, symbol, percent, reduce_only) -> None:
    r = AccountRisk.from_snapshot(snap, AT_MARK)
    position = r.position(symbol, "BOTH")
    assume(position is not None)
    step = D("0.001") if symbol == "BTCUSDT" else D(1)
    qty = max(step, (abs(position.amount) * percent / 100).quantize(step))
    side = "SELL" if position.amount > 0 else "BUY"
    order = futures_order(symbol, side, qty, **({"reduceOnly": "true"} if reduce_only else {}))
    assert is_risk_reducing(r, order)
    before = r.breakdown()
    p = project(r, order)
    assert p.maint_margin_after <= before.maint_margin_usd
    (after,) = [x for x in p.positions_after if x.symbol == symbol]
    assert after.amount == 0 or (after.amount > 0) == (position.amount > 0)
    fee = fee_usd(symbol, min(qty, abs(position.amount)), snap)
    assert p.adjusted_equity_after >= before.adjusted_equity_usd - fee - D("1e-18")
    if p.adjusted_equity_after >= 0 and before.maint_margin_usd > 0:
        bound = before.uni_mmr - fee / before.maint_margin_usd
        assert p.unimmr_after >= bound - D("1e-18")


@FAST
@given(
    accounts(),
    st.sampled_from(["BTCUSDT", "BTCUSD_PERP"]),
    st.integers(1, 50),
    st.integers(1, 50),
    st.booleans(),
)
def test_projection_is_monotone_in_quantity_for_increasing_orders(snap, symbol, a, b, flat) -> None:
    if flat:
        snap = replace(snap, positions=tuple(p for p in snap.positions if p.symbol != symbol))
    r = AccountRisk.from_snapshot(snap)
    position = r.position(symbol, "BOTH")
    side = "BUY" if position is None or position.amount > 0 else "SELL"
    step = D("0.1") if symbol == "BTCUSDT" else D(10)
    small, large = sorted((a * step, b * step))
    p_small = project(r, futures_order(symbol, side, small))
    p_large = project(r, futures_order(symbol, side, large))
    assert not is_risk_reducing(r, futures_order(symbol, side, small))
    assert p_large.maint_margin_after >= p_small.maint_margin_after
    assert p_large.adjusted_equity_after <= p_small.adjusted_equity_after
    if p_large.adjusted_equity_after >= 0:
        assert p_large.unimmr_after <= p_small.unimmr_after


@FAST
@given(accounts(), st.integers(1, 200), st.integers(1, 200))
def test_margin_buy_is_monotone_in_quantity(snap, a, b) -> None:
    r = AccountRisk.from_snapshot(snap)
    small, large = sorted((D(a) / 100, D(b) / 100))
    p_small = project(r, margin_order("BUY", quantity=str(small), sideEffectType="MARGIN_BUY"))
    p_large = project(r, margin_order("BUY", quantity=str(large), sideEffectType="MARGIN_BUY"))
    assert p_large.maint_margin_after >= p_small.maint_margin_after
    assert p_large.adjusted_equity_after <= p_small.adjusted_equity_after
    if p_large.adjusted_equity_after >= 0:
        assert p_large.unimmr_after <= p_small.unimmr_after


def apply(r: AccountRisk, p) -> None:
    for position in p.positions_after:
        r.update_position(position)
    for balance in p.balances_after:
        r.update_balance(balance)


@FAST
@given(accounts(), st.sampled_from(["BTCUSDT", "BTCUSD_PERP"]), st.integers(1, 40))
def test_buy_then_sell_returns_the_snapshot_less_fees(snap, symbol, n) -> None:
    r = AccountRisk.from_snapshot(snap, AT_MARK)
    before = r.breakdown()
    amount = r.position(symbol, "BOTH")
    qty = D(n) / 10 if symbol == "BTCUSDT" else D(n * 10)
    apply(r, project(r, futures_order(symbol, "BUY", qty)))
    apply(r, project(r, futures_order(symbol, "SELL", qty)))
    after = r.breakdown()
    assert (
        r.position(symbol, "BOTH") is None
        if amount is None
        else (
            r.position(symbol, "BOTH").amount == amount.amount  # type: ignore[union-attr]
        )
    )
    assert after.maint_margin_usd == before.maint_margin_usd
    assert close(after.equity_usd, before.equity_usd - 2 * fee_usd(symbol, qty, snap))


@FAST
@given(accounts(hedge=True), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order(snap, rnd) -> None:
    orders = (
        OpenOrder("UM", "BTCUSDT", "1", "BUY", "LIMIT", D(1), D(41_000), position_side="LONG"),
        OpenOrder("UM", "BTCUSDT", "2", "SELL", "MARKET", D(2), position_side="SHORT"),
        OpenOrder(
            "CM", "BTCUSD_PERP", "3", "SELL", "LIMIT", D(30), D(39_000), position_side="SHORT"
        ),
        OpenOrder(
            "MARGIN", "BTCUSDT", "4", "BUY", "LIMIT", D(1), D(40_000), side_effect="MARGIN_BUY"
        ),
    )
    snap = replace(snap, open_orders=orders)
    shuffled = replace(
        snap,
        balances=tuple(rnd.sample(snap.balances, len(snap.balances))),
        positions=tuple(rnd.sample(snap.positions, len(snap.positions))),
        open_orders=tuple(rnd.sample(orders, len(orders))),
    )
    a, b = AccountRisk.from_snapshot(snap), AccountRisk.from_snapshot(shuffled)
    assert a.breakdown(with_pending=True) == b.breakdown(with_pending=True)
    order = um_order("BUY", "0.5", positionSide="LONG")
    assert project(a, order) == project(b, order)


@FAST
@given(
    accounts(hedge=False),
    st.sampled_from(["BTCUSDT", "BTCUSD_PERP"]),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(1, 60),
    st.booleans(),
    st.lists(
        st.tuples(st.sampled_from(["BUY", "SELL"]), st.integers(1, 30), st.booleans()), max_size=4
    ),
)
def test_reducing_never_raises_mm_or_flips(snap, symbol, side, n, reduce_only, pending) -> None:
    r = AccountRisk.from_snapshot(snap)
    qty = D(n) / 10 if symbol == "BTCUSDT" else D(n * 10)
    order = futures_order(symbol, side, qty, **({"reduceOnly": "true"} if reduce_only else {}))
    if not pending:
        before = r.position(symbol, "BOTH")
        p = project(r, order)
        if is_risk_reducing(r, order):
            assert p.maint_margin_after <= r.breakdown().maint_margin_usd
            (after,) = [x for x in p.positions_after if x.symbol == symbol]
            assert before is not None
            assert after.amount == 0 or (after.amount > 0) == (before.amount > 0)
        return
    market = "UM" if symbol == "BTCUSDT" else "CM"
    for i, (p_side, p_n, p_ro) in enumerate(pending):
        p_qty = D(p_n) / 10 if symbol == "BTCUSDT" else D(p_n * 10)
        leg = OrderLeg(market, symbol, p_side, p_qty, at_market=True, reduce_only=p_ro)  # type: ignore[arg-type]
        r.add_pending(PendingOrder(str(i), (leg,), in_flight=True))
    if is_risk_reducing(r, order):
        assert (
            project(r, order).maint_margin_after <= r.breakdown(with_pending=True).maint_margin_usd
        )


def pending_legs(
    sides: tuple[str, ...],
) -> st.SearchStrategy[list[tuple[str, str, str, int, bool]]]:
    return st.lists(
        st.tuples(
            st.sampled_from(["BTCUSDT", "BTCUSD_PERP", "MARGIN"]),
            st.sampled_from(["BUY", "SELL"]),
            st.sampled_from(sides),
            st.integers(1, 30),
            st.booleans(),
        ),
        max_size=5,
    )


def pending_orders(drawn: list[tuple[str, str, str, int, bool]]) -> list[PendingOrder]:
    orders = []
    for i, (symbol, side, position_side, n, flag) in enumerate(drawn):
        if symbol == "MARGIN":
            effect = "MARGIN_BUY" if flag else "AUTO_REPAY"
            leg = OrderLeg("MARGIN", "BTCUSDT", side, D(n) / 10, at_market=True, side_effect=effect)  # type: ignore[arg-type]
        else:
            market = "UM" if symbol == "BTCUSDT" else "CM"
            qty = D(n) / 10 if symbol == "BTCUSDT" else D(n * 10)
            leg = OrderLeg(
                market,
                symbol,
                side,
                qty,
                at_market=True,
                position_side=position_side,  # type: ignore[arg-type]
                reduce_only=flag,
            )
        orders.append(PendingOrder(f"p{i}", (leg,), in_flight=True))
    return orders


@FAST
@given(accounts(hedge=None), st.data())
def test_incremental_updates_equal_a_rebuild(snap, data) -> None:
    sides = ("LONG", "SHORT") if snap.um_hedge_mode else ("BOTH",)
    drawn = data.draw(pending_legs(sides))
    r = AccountRisk.from_snapshot(snap)
    for order in pending_orders(drawn):
        r.add_pending(order)
    for _ in range(data.draw(st.integers(1, 8))):
        kind = data.draw(st.sampled_from(["position", "mark", "balance", "index"]))
        if kind == "position":
            symbol = data.draw(st.sampled_from(["BTCUSDT", "BTCUSD_PERP"]))
            side = data.draw(st.sampled_from(sides))
            sign = {"LONG": 1, "SHORT": -1, "BOTH": data.draw(st.sampled_from([1, -1]))}[side]
            size = data.draw(st.integers(0, 3_000)) / D(100 if symbol == "BTCUSDT" else 1)
            new = pos(symbol, sign * size, data.draw(marks), side)
            r.update_position(new)
            kept = [p for p in snap.positions if (p.symbol, p.position_side) != (symbol, side)]
            snap = replace(snap, positions=(*kept, new))
        elif kind == "mark":
            symbol = data.draw(st.sampled_from(["BTCUSDT", "BTCUSD_PERP", "ETHUSDT"]))
            mark = data.draw(marks)
            r.update_mark_price(symbol, mark)
            snap = replace(snap, mark_prices={**snap.mark_prices, symbol: mark})
        elif kind == "balance":
            new_b = coin(
                data.draw(st.sampled_from(["USDT", "BTC", "ETH"])),
                data.draw(money),
                data.draw(st.integers(0, 9)),
                um=data.draw(st.integers(-500, 500)),
            )
            r.update_balance(new_b)
            kept_b = [b for b in snap.balances if b.asset != new_b.asset]
            snap = replace(snap, balances=(*kept_b, new_b))
        else:
            asset = data.draw(st.sampled_from(["BTC", "ETH"]))
            price = D(data.draw(st.integers(1_000, 60_000)))
            r.update_index_price(asset, price)
            snap = replace(snap, index_prices={**snap.index_prices, asset: price})
    fresh = compute(snap, ProjectionSettings())
    got = r.breakdown()
    assert close(got.adjusted_equity_usd, fresh.adjusted_equity_usd)
    assert close(got.maint_margin_usd, fresh.maint_margin_usd)
    assert (got.uni_mmr == INFINITY) == (fresh.uni_mmr == INFINITY)
    assert [a.asset for a in got.assets] == [a.asset for a in fresh.assets]
    # and the pending orders' cached worst cases followed every update
    rebuilt = AccountRisk.from_snapshot(snap)
    for order in pending_orders(drawn):
        rebuilt.add_pending(order)
    got_p, fresh_p = r.breakdown(with_pending=True), rebuilt.breakdown(with_pending=True)
    assert close(got_p.adjusted_equity_usd, fresh_p.adjusted_equity_usd)
    assert close(got_p.maint_margin_usd, fresh_p.maint_margin_usd)


@given(
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        places=8,
        min_value=D("0.00000001"),
        max_value=D("99999999"),
    )
)
def test_decimal_text_round_trips_through_intents(value: Decimal) -> None:
    leg = intent("/papi/v1/marginLoan", asset="USDT", amount=str(value)).legs[0]
    assert leg.amount == value  # type: ignore[union-attr]
    assert Decimal(str(leg.amount)) == value  # type: ignore[union-attr]
