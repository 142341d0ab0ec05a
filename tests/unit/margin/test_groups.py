"""The per-group running sums (`groups`) against the naive leg-by-leg computation.

The naive computation is the specification: `pending.worst_effect` / `effects.group_effect`
fill every leg in order on a copy of the group's state, and `naive_project` /
`naive_is_risk_reducing` (below) are the projection and the direction check built on it, as
they were before the sums existed. The properties:

- incremental == naive: after every step of a random sequence (adds and removes of pending
  orders of every kind — futures UM/CM, MARKET/LIMIT/stop/trailing prices, reduceOnly,
  closePosition, hedge legs, margin pairs with every side effect and quoteOrderQty, manual
  borrows and repays, a few legs without a sum form — and position, mark, balance and index
  price updates), every group's cached worst case, each side's scenario, and the worst case
  with a random candidate and a random excluded order equal the naive result Decimal for
  Decimal (deltas and score); projections and `is_risk_reducing` equal the naive ones;
- incremental == rebuild: the same account rebuilt from its snapshot with the remaining
  pending orders added in another order has exactly the same breakdown, with and without
  pending orders.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from decimal import Decimal
from decimal import localcontext

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from margin_gate.margin import AccountRisk
from margin_gate.margin import AccountSnapshot
from margin_gate.margin import Balance
from margin_gate.margin import OpenOrder
from margin_gate.margin import OrderIntent
from margin_gate.margin import OrderRef
from margin_gate.margin import PendingOrder
from margin_gate.margin import Position
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import is_risk_reducing
from margin_gate.margin import project
from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.decimals import ONE
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.effects import EMPTY
from margin_gate.margin.effects import Effect
from margin_gate.margin.effects import group_effect
from margin_gate.margin.fills import effective_slippage
from margin_gate.margin.fills import fill_price
from margin_gate.margin.groups import scenario
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.legs import capped_first
from margin_gate.margin.pending import worst_effect
from margin_gate.margin.project import ProjectionExpired
from margin_gate.margin.project import resolve
from margin_gate.margin.risk import asset_row
from tests.unit.margin.builders import pos
from tests.unit.margin.builders import snapshot
from tests.unit.margin.builders import um_order
from tests.unit.margin.builders import usdt

D = Decimal
EXAMPLES = settings(
    max_examples=int(os.environ.get("MG_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUTURES = ("BTCUSDT", "BTCUSD_PERP")
SIDES = ("BUY", "SELL")
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
SIDE_EFFECTS = ("NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY")

# -- strategies --

marks = st.integers(30_000, 50_000).map(D)
prices = st.integers(30_000, 50_000).map(lambda n: D(n) + D("0.5") * (n % 2))
small = st.integers(0, 2_000).map(D)


@st.composite
def balances(draw: st.DrawFn, asset: str, scale: int) -> Balance:
    cross = D(draw(st.integers(0, 50 * scale))) / 10
    return Balance(
        asset,
        cross,
        D(draw(st.integers(0, 10 * scale))) / 10,  # borrowed
        D(draw(st.integers(0, scale))) / 100,  # interest
        D(draw(st.integers(-scale, 100 * scale))) / 10,  # UM wallet
        D(draw(st.integers(0, scale))) / 100,  # CM wallet
        cross * D(draw(st.integers(0, 10))) / 10,  # locked
    )


@st.composite
def accounts(draw: st.DrawFn) -> AccountSnapshot:
    positions: list[Position] = []
    for symbol in FUTURES:
        for side in draw(st.sampled_from([(), ("BOTH",), ("LONG", "SHORT"), ("LONG",)])):
            size = draw(st.integers(1, 3_000))
            amount = D(size) / 1_000 if symbol == "BTCUSDT" else D(size)
            sign = -1 if side == "SHORT" or (side == "BOTH" and draw(st.booleans())) else 1
            positions.append(pos(symbol, sign * amount, draw(marks), side))  # type: ignore[arg-type]
    return snapshot(
        draw(balances("USDT", 10_000)),
        draw(balances("BTC", 1)),
        draw(balances("ETH", 20)),
        positions=tuple(positions),
        marks={"BTCUSDT": draw(marks), "BTCUSD_PERP": draw(marks)},
        # a USDT index off 1 makes the margin references non-terminating (34-digit values)
        prices={"USDT": draw(st.sampled_from([D(1), D("0.9997"), D("1.0003")]))},
    )


@st.composite
def futures_legs(draw: st.DrawFn, symbol: str | None = None) -> OrderLeg:
    symbol = symbol or draw(st.sampled_from(FUTURES))
    market = "UM" if symbol == "BTCUSDT" else "CM"
    n = draw(st.integers(1, 2_000))
    qty: Decimal | None = D(n) / 1_000 if market == "UM" else D(n // 4 + 1)
    kind = draw(st.sampled_from(["MARKET", "LIMIT", "LIMIT", "STOP", "TRAIL", "TRAIL_AT"]))
    price = None if kind in ("MARKET", "TRAIL") else draw(prices)
    callback = D(draw(st.integers(1, 50))) / 1_000 if kind.startswith("TRAIL") else ZERO
    shape = draw(st.sampled_from(["plain"] * 6 + ["reduce"] * 3 + ["close", "odd"]))
    reduce_only = shape in ("reduce", "close")
    if shape == "close":
        qty = None
    elif shape == "odd":  # no sum form: an amount-less plain leg, or a negative quantity
        qty = None if draw(st.booleans()) else -(qty or ONE)
    return OrderLeg(
        market,
        symbol,
        draw(st.sampled_from(SIDES)),
        qty,
        price,
        kind != "LIMIT",
        callback,
        draw(st.sampled_from(POSITION_SIDES)),
        reduce_only,
    )


@st.composite
def margin_legs(draw: st.DrawFn, symbol: str | None = None) -> OrderLeg:
    symbol = symbol or draw(st.sampled_from(["BTCUSDT", "ETHUSDT"]))
    side = draw(st.sampled_from(SIDES))
    kind = draw(st.sampled_from(["MARKET", "LIMIT", "STOP"]))
    scale = 1_000 if symbol == "BTCUSDT" else 100
    reference = 40_000 if symbol == "BTCUSDT" else 2_000
    price = None if kind == "MARKET" else D(draw(st.integers(reference * 9, reference * 11))) / 10
    qty: Decimal | None = D(draw(st.integers(1, 3_000))) / scale
    quote = None
    if kind == "MARKET" and draw(st.booleans()):
        qty, quote = None, D(draw(st.integers(1, 200_000))) / 10
    return OrderLeg(
        "MARGIN",
        symbol,
        side,
        qty,
        price,
        kind != "LIMIT",
        quote_quantity=quote,
        reduce_only=draw(st.integers(0, 9)) == 0,  # no sum form (fills first)
        side_effect=draw(st.sampled_from(SIDE_EFFECTS)),
    )


@st.composite
def loan_legs(draw: st.DrawFn, asset: str | None = None) -> LoanLeg:
    asset = asset or draw(st.sampled_from(["USDT", "BTC", "ETH"]))
    action = draw(st.sampled_from(["BORROW", "REPAY"]))
    amount: Decimal | None = D(draw(st.integers(0, 50_000))) / (10 if asset == "USDT" else 1_000)
    shape = draw(st.integers(0, 9))
    if shape == 0:
        amount = None
    elif shape == 1 and action == "REPAY":
        amount = -(amount or ONE)  # no sum form
    return LoanLeg(asset, action, amount)  # type: ignore[arg-type]


def any_leg() -> st.SearchStrategy[Leg]:
    return st.one_of(futures_legs(), futures_legs(), margin_legs(), loan_legs())


def legs_on(key: GroupKey) -> st.SearchStrategy[Leg]:
    if key[0] == "LOAN":
        return loan_legs(key[1])
    if key[0] == "MARGIN":
        return margin_legs(key[1])
    return futures_legs(key[1])


# -- the naive reference --


def naive_project(r: AccountRisk, intent: OrderIntent) -> tuple[Decimal, ...]:
    """`project` before the sums: every group's worst case filled leg by leg."""
    with localcontext(ENGINE_CONTEXT):
        alternatives, replaced = resolve(r, intent)
        best: tuple[Decimal, ...] | None = None
        for legs in alternatives:
            by_group: dict[GroupKey, list[Leg]] = {}
            for leg in legs:
                by_group.setdefault(leg.key, []).append(leg)
            if replaced is not None:
                for key in r.pending.groups_of(replaced):
                    by_group.setdefault(key, [])
            effects = {
                k: worst_effect(r, k, r.pending_legs(k, replaced), c) for k, c in by_group.items()
            }
            totals, rows = r.evaluate(effects)
            after = r.summarize(totals, [asset_row(row) for row in rows])
            found = (
                after.uni_mmr,
                after.equity_usd,
                after.adjusted_equity_usd,
                after.maint_margin_usd,
            )
            if best is None or found[0] < best[0]:
                best = found
        assert best is not None
        return best


def naive_is_risk_reducing(r: AccountRisk, intent: OrderIntent) -> bool:
    """`is_risk_reducing` before the sums: the pending legs walked one by one."""
    with localcontext(ENGINE_CONTEXT):
        if intent.kind in ("borrow", "repay"):
            return intent.kind == "repay"
        alternatives, replaced = resolve(r, intent)
        for legs in alternatives:
            for i, leg in enumerate(legs):
                others = legs[:i] + legs[i + 1 :]
                assert isinstance(leg, OrderLeg)
                if leg.market == "MARGIN":
                    ok = _naive_margin(r, leg, others, replaced)
                else:
                    ok = _naive_futures(r, leg, others, replaced)
                if not ok:
                    return False
        return True


def _naive_futures(
    r: AccountRisk, leg: OrderLeg, others: Sequence[Leg], replaced: str | None
) -> bool:
    p = r.position(leg.symbol, leg.position_side)
    amount = ZERO if p is None else p.amount
    buy = leg.side == "BUY"
    if amount == ZERO or (amount > ZERO) == buy:
        return False
    size = abs(amount)
    qty = size if leg.quantity is None else leg.quantity
    if leg.reduce_only:
        qty = min(qty, size)
    same_position = [
        o
        for o in [*r.pending_legs(leg.key, replaced), *others]
        if isinstance(o, OrderLeg) and o.position_side == leg.position_side
    ]
    same_side = [o for o in same_position if o.side == leg.side]
    if leg.reduce_only and all(o.reduce_only for o in same_side):
        return True

    def q(o: OrderLeg) -> Decimal:
        return size if o.quantity is None else o.quantity

    pending_same = sum((q(o) for o in same_side), ZERO)
    after_all = amount + sum((q(o) if o.side == "BUY" else -q(o) for o in same_position), ZERO)
    return (
        qty + pending_same <= size
        and after_all != ZERO
        and (after_all > ZERO) == (amount > ZERO)
        and qty <= abs(after_all)
    )


def _naive_flows(r: AccountRisk, leg: OrderLeg) -> tuple[str, Decimal, str, Decimal]:
    inst = r.instrument(leg.key)
    base, quote = inst.base_asset, inst.quote_asset
    reference = r.index_price(base) / r.index_price(quote)
    buy = leg.side == "BUY"
    slip = effective_slippage(buy, r.settings.market_slippage, inst)
    worst = fill_price(leg, reference, slip)
    if buy:
        if leg.quantity is None:
            return quote, leg.quote_quantity or ZERO, base, INFINITY
        return quote, leg.quantity * worst, base, leg.quantity
    if leg.quantity is None:
        received = leg.quote_quantity or ZERO
        return base, received / worst, quote, received
    high = max(reference if leg.price is None else leg.price, reference) * (ONE + slip)
    return base, leg.quantity, quote, leg.quantity * high


def _naive_margin(
    r: AccountRisk, leg: OrderLeg, others: Sequence[Leg], replaced: str | None
) -> bool:
    if leg.side_effect != "AUTO_REPAY":
        return False
    pay, spent, recv, repaid = _naive_flows(r, leg)
    for other in [*r.pending_balance_legs((pay, recv), replaced), *others]:
        if isinstance(other, LoanLeg):
            amount = INFINITY if other.amount is None else other.amount
            if other.action == "REPAY":
                spent += amount if other.asset == pay else ZERO
                repaid += amount if other.asset == recv else ZERO
            continue
        o_pay, o_cost, o_recv, o_proceeds = _naive_flows(r, other)
        spent += o_cost if o_pay == pay else ZERO
        if o_recv == recv and other.side_effect in ("AUTO_REPAY", "AUTO_BORROW_REPAY"):
            repaid += o_proceeds
    owed, paying = r.balance(recv), r.balance(pay)
    free = paying.cross_margin_asset - paying.cross_margin_locked
    return repaid <= owed.cross_margin_borrowed + owed.cross_margin_interest and spent <= free


# -- checks --


def same(fast: Effect, naive: Effect) -> None:
    assert fast.deltas == naive.deltas
    assert fast.score == naive.score
    assert (fast is EMPTY) == (naive is EMPTY)


def check_groups(r: AccountRisk, data: st.DataObject) -> None:
    """Every group's cached worst case, its sides, and a random candidate / exclusion."""
    keys = r.pending.group_keys()
    with localcontext(ENGINE_CONTEXT):
        for key in keys:
            naive = worst_effect(r, key, r.pending_legs(key))
            same(r.worst(key), naive)
            assert r._effects.get(key, EMPTY).deltas == naive.deltas
            pricing = None if key[0] == "LOAN" else r.pricing(key)
            for buy in (True, False):
                side = [leg for leg in r.pending_legs(key) if (leg.side == "BUY") == buy]
                fast = scenario(r, key, pricing, r.group(key), buy)
                same(fast, group_effect(r, key, capped_first(side)))
        key = data.draw(st.sampled_from([*keys, ("UM", "BTCUSDT"), ("LOAN", "BTC")]))
        candidate = data.draw(st.lists(legs_on(key), max_size=3))
        orders = sorted(k for k in r.pending._orders if key in r.pending.groups_of(k))
        exclude = data.draw(st.sampled_from([None, *orders]))
        naive = worst_effect(r, key, r.pending_legs(key, exclude), candidate)
        same(r.worst(key, candidate, exclude), naive)


def check_projection(r: AccountRisk, data: st.DataObject) -> None:
    legs = data.draw(
        st.one_of(
            st.lists(futures_legs(), min_size=1, max_size=3),
            st.lists(margin_legs(), min_size=1, max_size=1),
            st.lists(loan_legs(), min_size=1, max_size=1),
        )
    )
    first = legs[0]
    kind = "order"
    if isinstance(first, LoanLeg):
        kind = "repay" if first.action == "REPAY" else "borrow"
    replaces = None
    refs = [o for o in r.pending._orders.values() if o.order_id and isinstance(o.legs[0], OrderLeg)]
    if refs and isinstance(first, OrderLeg) and data.draw(st.booleans()):
        target = data.draw(st.sampled_from(refs)).legs[0]
        assert isinstance(target, OrderLeg)
        found = next(o for o in refs if o.legs[0] == target)
        replaces = OrderRef(target.market, target.symbol, found.order_id)
    intent = OrderIntent(kind, "um_order", (tuple(legs),), replaces)  # type: ignore[arg-type]
    p = project(r, intent)
    assert (p.unimmr_after, p.equity_after, p.adjusted_equity_after, p.maint_margin_after) == (
        naive_project(r, intent)
    )
    assert p.breakdown.uni_mmr == p.unimmr_after
    assert is_risk_reducing(r, intent) == naive_is_risk_reducing(r, intent)


def rebuilt(r: AccountRisk, snap: AccountSnapshot, rnd: st.DataObject) -> AccountRisk:
    fresh = AccountRisk.from_snapshot(dataclasses.replace(snap, open_orders=()), r.settings)
    orders = list(r.pending._orders.values())
    for order in rnd.draw(st.permutations(orders)):
        fresh.add_pending(order)
    return fresh


# -- properties --


engine_settings = st.builds(
    ProjectionSettings,
    market_slippage=st.sampled_from([D("0.005"), D(0), D("0.0123")]),
    hedge_bracketing=st.sampled_from(["per_leg", "combined"]),
    bracket_boundary=st.sampled_from(["floor", "cap"]),
    loan_mm_includes_interest=st.booleans(),
    pending_buffer=st.sampled_from([D("1.5"), D(0), D("1.25")]),
    default_taker_fee=st.sampled_from([D("0.0005"), D("0.00045")]),
)
resting = st.lists(
    st.builds(
        OpenOrder,
        st.sampled_from(["UM", "CM"]),
        st.just("BTCUSDT"),
        st.integers(1, 99).map(str),
        st.sampled_from(SIDES),
        st.sampled_from(["LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT", "TRAILING_STOP_MARKET"]),
        st.one_of(st.none(), st.integers(1, 900).map(lambda n: D(n) / 100)),
        prices,
        prices,
        st.sampled_from(POSITION_SIDES),
        st.booleans(),
        callback_rate=st.just(D(1)),
    ).map(lambda o: o if o.market == "UM" else dataclasses.replace(o, symbol="BTCUSD_PERP")),
    max_size=4,
    unique_by=lambda o: (o.market, o.order_id),
)


@EXAMPLES
@given(accounts(), engine_settings, resting, st.data())
def test_sums_equal_the_naive_fill_and_a_rebuild(snap, engine, orders, data) -> None:
    snap = dataclasses.replace(snap, open_orders=tuple(orders))
    r = AccountRisk.from_snapshot(snap, engine)
    keys: list[str] = []
    for step in range(data.draw(st.integers(1, 10))):
        op = data.draw(
            st.sampled_from(["add"] * 5 + ["remove"] * 2 + ["position", "mark", "balance", "index"])
        )
        if op == "add":
            legs = tuple(data.draw(st.lists(any_leg(), min_size=1, max_size=3)))
            key = f"k{step:02d}"
            r.add_pending(PendingOrder(key, legs, order_id=key))
            keys.append(key)
        elif op == "remove" and keys:
            key = data.draw(st.sampled_from(keys))
            keys.remove(key)
            r.remove_pending(key)
        elif op == "position":
            symbol = data.draw(st.sampled_from(FUTURES))
            side = data.draw(st.sampled_from(POSITION_SIDES))
            size = D(data.draw(st.integers(0, 3_000)))
            amount = size / 1_000 if symbol == "BTCUSDT" else size
            sign = -1 if side == "SHORT" or (side == "BOTH" and data.draw(st.booleans())) else 1
            new = pos(symbol, sign * amount, data.draw(marks), side)  # type: ignore[arg-type]
            r.update_position(new)
            kept = [p for p in snap.positions if (p.symbol, p.position_side) != (symbol, side)]
            snap = dataclasses.replace(snap, positions=(*kept, new) if amount else tuple(kept))
        elif op == "mark":
            symbol = data.draw(st.sampled_from(FUTURES))
            mark = data.draw(marks)
            r.update_mark_price(symbol, mark)
            snap = dataclasses.replace(snap, mark_prices={**snap.mark_prices, symbol: mark})
        elif op == "balance":
            asset = data.draw(st.sampled_from(["USDT", "BTC", "ETH"]))
            b = data.draw(balances(asset, 10_000 if asset == "USDT" else 10))
            r.update_balance(b)
            kept_b = [x for x in snap.balances if x.asset != asset]
            snap = dataclasses.replace(snap, balances=(*kept_b, b))
        elif op == "index":
            asset = data.draw(st.sampled_from(["BTC", "ETH", "USDT"]))
            price = {"BTC": D(data.draw(st.integers(30_000, 50_000))), "ETH": D(2_001)}.get(
                asset, D("0.9999")
            )
            r.update_index_price(asset, price)
            snap = dataclasses.replace(snap, index_prices={**snap.index_prices, asset: price})
        check_groups(r, data)
    check_projection(r, data)
    fresh = rebuilt(r, snap, data)
    assert r.breakdown(with_pending=True) == fresh.breakdown(with_pending=True)
    assert r.breakdown() == fresh.breakdown()
    for key in r.pending.group_keys():
        assert r._effects.get(key, EMPTY).deltas == fresh._effects.get(key, EMPTY).deltas


@EXAMPLES
@given(
    accounts(),
    st.sampled_from(
        [("UM", "BTCUSDT"), ("CM", "BTCUSD_PERP"), ("MARGIN", "BTCUSDT"), ("LOAN", "BTC")]
    ),
    st.data(),
)
def test_many_legs_on_one_group(snap, key, data) -> None:
    # one crowded group: capped buckets that bind, closePosition legs, hedge closes; mixed
    # borrowing and plain spends beyond the free balance; repays of everything owed
    legs = data.draw(st.lists(legs_on(key), min_size=1, max_size=40))
    r = AccountRisk.from_snapshot(snap)
    for i, leg in enumerate(legs):
        r.add_pending(PendingOrder(f"o{i:02d}", (leg,)))
    check_groups(r, data)
    for i in data.draw(st.lists(st.integers(0, len(legs) - 1), unique=True)):
        r.remove_pending(f"o{i:02d}")
    check_groups(r, data)
    check_projection(r, data)


# -- examples --


def test_projection_details_need_the_account_unchanged() -> None:
    r = AccountRisk.from_snapshot(snapshot(usdt(um=10_000)), ProjectionSettings())
    p = project(r, um_order("BUY", "1"))
    q = project(r, um_order("BUY", "1"))
    assert p == q  # compares everything, so both have read their details
    assert p != object()
    assert "unimmr_after=" in repr(p)
    stale = project(r, um_order("BUY", "2"))
    r.update_mark_price("BTCUSDT", D(41_000))
    with pytest.raises(ProjectionExpired, match="before updating it"):
        _ = stale.positions_after
    assert stale.unimmr_after < p.unimmr_after  # the numbers themselves are kept
    assert p.positions_after[0].amount == 1  # read before the change: kept
    fresh = project(r, um_order("BUY", "1"))
    order = fresh.as_pending("res:1", "9", "c")
    assert (order.key, order.legs, order.in_flight) == ("res:1", fresh.worst_case_legs, True)
    r.add_pending(order)
    assert r.pending.order("res:1") == order
    with pytest.raises(ProjectionExpired):
        _ = fresh.balances_after


CM_SELL_AT_ZERO = OrderLeg("CM", "BTCUSD_PERP", "SELL", D(1), D(0))  # fills at 0: 1/0
UM_BUY_OVERFLOW = OrderLeg(
    "UM", "BTCUSDT", "BUY", D(1), D("9.99E+999999"), True
)  # × (1 + s) overflows
MARGIN_SELL_AT_ZERO = OrderLeg("MARGIN", "BTCUSDT", "SELL", None, D(0), quote_quantity=D(9))


def test_legs_without_a_sum_form_fail_where_the_naive_fill_fails() -> None:
    r = AccountRisk.from_snapshot(snapshot(usdt(um=10_000, cross=1_000), coin_btc()))
    # capped and nothing to reduce: it never fills, so it never divides by zero
    capped = dataclasses.replace(CM_SELL_AT_ZERO, reduce_only=True)
    overflow = dataclasses.replace(UM_BUY_OVERFLOW, reduce_only=True)
    r.add_pending(PendingOrder("capped", (capped, overflow)))
    with localcontext(ENGINE_CONTEXT):
        for key in (capped.key, overflow.key):
            same(r.worst(key), worst_effect(r, key, r.pending_legs(key)))
        with pytest.raises(ArithmeticError):
            r.worst(overflow.key, [overflow, dataclasses.replace(overflow, reduce_only=False)])
    for leg in (CM_SELL_AT_ZERO, MARGIN_SELL_AT_ZERO, UM_BUY_OVERFLOW):
        with pytest.raises(ArithmeticError):
            r.add_pending(PendingOrder("bad", (leg,)))
        assert "bad" not in r.pending
        with pytest.raises(ArithmeticError):
            project(r, OrderIntent("order", "um_order", ((leg,),)))
        with pytest.raises(ArithmeticError), localcontext(ENGINE_CONTEXT):
            worst_effect(r, leg.key, [], [leg])


def coin_btc() -> Balance:
    return Balance("BTC", D(2), D(1), D("0.01"), cm_wallet=D(1))


def test_a_modify_excludes_its_order_from_every_group() -> None:
    snap = snapshot(
        usdt(um=10_000, cross=50_000, borrowed=100, interest=1),
        coin_btc(),
        positions=(pos("BTCUSDT", "0.5", 40_000, "LONG"), pos("BTCUSDT", -1, 40_000, "SHORT")),
    )
    r = AccountRisk.from_snapshot(snap)
    close_long = OrderLeg("UM", "BTCUSDT", "SELL", D(1), D(41_000), position_side="LONG")
    close_all = OrderLeg("UM", "BTCUSDT", "SELL", None, None, True, reduce_only=True)
    plain = OrderLeg("UM", "BTCUSDT", "BUY", D("0.2"), at_market=True, position_side="SHORT")
    legs = (
        close_long,
        dataclasses.replace(close_long, quantity=None, reduce_only=True),
        close_all,
        plain,
        LoanLeg("USDT", "REPAY", None),
        LoanLeg("USDT", "REPAY", D(-1)),
        LoanLeg("USDT", "BORROW", D(5)),
        OrderLeg("MARGIN", "BTCUSDT", "BUY", D(1), at_market=True, side_effect="AUTO_REPAY"),
    )
    r.add_pending(PendingOrder("m", legs, order_id="7"))
    r.add_pending(PendingOrder("n", (close_long, close_long, plain), order_id="8"))
    r.add_pending(PendingOrder("o", (LoanLeg("USDT", "REPAY", D(3)),)))
    with localcontext(ENGINE_CONTEXT):
        for key in r.pending.group_keys():
            candidate = [close_long] if key == close_long.key else []
            for exclude in ("m", "n", "o"):
                naive = worst_effect(r, key, r.pending_legs(key, exclude), candidate)
                same(r.worst(key, candidate, exclude), naive)
    modify = OrderIntent(
        "modify",
        "um_modify",
        ((dataclasses.replace(close_long, quantity=D(2)),),),
        OrderRef("UM", "BTCUSDT", "7"),
    )
    assert project(r, modify).unimmr_after == naive_project(r, modify)[0]
    assert is_risk_reducing(r, modify) == naive_is_risk_reducing(r, modify)


def test_direction_walks_margin_legs_one_by_one_when_one_has_no_sum_form() -> None:
    snap = snapshot(
        usdt(cross=100_000, borrowed=90_000), coin_btc(), positions=(pos("BTCUSDT", 1, 40_000),)
    )
    r = AccountRisk.from_snapshot(snap)
    repay = OrderLeg(
        "MARGIN", "BTCUSDT", "SELL", D("0.1"), at_market=True, side_effect="AUTO_REPAY"
    )
    intent = OrderIntent("order", "margin_order", ((repay,),))
    assert is_risk_reducing(r, intent) == naive_is_risk_reducing(r, intent)
    odd = dataclasses.replace(repay, reduce_only=True)
    r.add_pending(
        PendingOrder(
            "odd", (odd, dataclasses.replace(repay, side="BUY", side_effect="NO_SIDE_EFFECT"))
        )
    )
    r.add_pending(
        PendingOrder("loan", (LoanLeg("USDT", "REPAY", D(10)), LoanLeg("BTC", "BORROW", D(1))))
    )
    r.add_pending(PendingOrder("all", (LoanLeg("BTC", "REPAY", None),)))
    assert is_risk_reducing(r, intent) == naive_is_risk_reducing(r, intent)
    r.remove_pending("odd")
    assert is_risk_reducing(r, intent) == naive_is_risk_reducing(r, intent)
    # a batch: legs on other position sides and symbols count only on their own position
    sell = OrderLeg("UM", "BTCUSDT", "SELL", D("0.3"), at_market=True)
    batch = OrderIntent(
        "batch",
        "um_batch",
        (
            (
                sell,
                dataclasses.replace(sell, position_side="LONG"),
                dataclasses.replace(sell, quantity=None, reduce_only=True),
            ),
        ),
    )
    assert is_risk_reducing(r, batch) == naive_is_risk_reducing(r, batch)


@EXAMPLES
@given(
    accounts(),
    st.lists(st.one_of(futures_legs(), margin_legs(), loan_legs()), max_size=8),
    st.lists(futures_legs(), min_size=1, max_size=3),
    st.data(),
)
def test_add_pending_reusing_the_projection_equals_computing_it(snap, pending, legs, data) -> None:
    reusing, computing = AccountRisk.from_snapshot(snap), AccountRisk.from_snapshot(snap)
    for i, leg in enumerate(pending):
        for r in (reusing, computing):
            r.add_pending(PendingOrder(f"p{i}", (leg,), order_id=str(i)))
    intent = OrderIntent("batch", "um_batch", (tuple(legs),))
    p = project(reusing, intent)
    explicit = data.draw(st.booleans())
    if explicit:  # the call form: the projection passed along
        reusing.update_open_loss(ZERO)  # a change in between: nothing reused
        p = project(reusing, intent)
        reusing.add_pending(p.as_pending("res:z"), p)
    else:  # the state layer's form: the last projection, found by its legs
        reusing.add_pending(PendingOrder("res:z", tuple(legs), in_flight=True))
    computing.add_pending(PendingOrder("res:z", tuple(legs), in_flight=True))
    assert reusing.breakdown(with_pending=True) == computing.breakdown(with_pending=True)
    with localcontext(ENGINE_CONTEXT):
        for key in computing.pending.group_keys():
            naive = worst_effect(computing, key, computing.pending_legs(key))
            assert reusing._effects.get(key, EMPTY).deltas == naive.deltas
            same(reusing.worst(key), naive)
            group = reusing.group(key)
            assert group is not None
            for buy in (True, False):
                cached = group.cache[buy]
                if cached is not None:
                    side = [
                        leg for leg in computing.pending_legs(key) if (leg.side == "BUY") == buy
                    ]
                    assert cached.deltas == group_effect(computing, key, capped_first(side)).deltas


def test_a_projection_is_reused_only_for_its_own_legs_on_an_unchanged_account() -> None:
    r = AccountRisk.from_snapshot(snapshot(usdt(um=10_000)))
    other = AccountRisk.from_snapshot(snapshot(usdt(um=10_000)))
    p = project(r, um_order("BUY", "1"))
    assert p.reuse_for(r, p.as_pending("a")) is not None
    assert p.reuse_for(other, p.as_pending("a")) is None
    assert p.reuse_for(r, PendingOrder("a", um_order("BUY", "2").legs)) is None
    r.add_pending(p.as_pending("a"))
    assert p.reuse_for(r, p.as_pending("b")) is None  # the account changed
    close = OrderLeg("UM", "BTCUSDT", "SELL", D(1), reduce_only=True)
    both = OrderIntent("batch", "um_batch", ((close, dataclasses.replace(close, side="BUY")),))
    q = project(r, both)
    reuse = q.reuse_for(r, q.as_pending("c"))
    assert reuse is not None
    assert reuse[("UM", "BTCUSDT")][0] is None  # capped legs: the prices only
    r.add_pending(q.as_pending("c"))
