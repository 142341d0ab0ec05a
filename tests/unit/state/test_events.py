"""User-stream events → account data: ordering, duplicates, and fills counted exactly once."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from margin_gate.state.data import AccountData
from margin_gate.state.effective import effective_balance
from margin_gate.state.effective import effective_positions
from margin_gate.state.events import apply_events
from margin_gate.state.reconcile import merge_load
from tests.unit.state.builders import T0
from tests.unit.state.builders import account_update
from tests.unit.state.builders import load
from tests.unit.state.builders import otu

D = Decimal


def loaded(**kw: object) -> AccountData:
    return merge_load(AccountData(), load(**kw))  # type: ignore[arg-type]


def amount(data: AccountData) -> Decimal:
    p = effective_positions(data).get(("UM", "BTCUSDT", "BOTH"))
    return D(0) if p is None else p.amount


def test_new_order_is_open_with_remaining_quantity() -> None:
    data = loaded()
    effects = apply_events(data, [otu(x="NEW", status="NEW", q="2")], T0)
    order = data.open_orders["UM:BTCUSDT:1"]
    assert order.quantity == D(2)
    assert order.price == D(30000)
    assert effects.confirm_keys == {"c:c1"}


def test_partial_fill_reduces_the_open_order_and_adds_a_pending_fill() -> None:
    data = loaded()
    apply_events(data, [otu(x="NEW", status="NEW", q="2")], T0)
    trade = otu(
        x="TRADE",
        status="PARTIALLY_FILLED",
        q="2",
        z="0.5",
        l="0.5",
        fill_price="30000",
        trade_id=7,
        t=T0 + 5,
    )
    apply_events(data, [trade], T0)
    assert data.open_orders["UM:BTCUSDT:1"].quantity == D("1.5")
    assert amount(data) == D("0.5")
    apply_events(data, [trade], T0)  # a duplicate delivery changes nothing
    assert amount(data) == D("0.5")


def test_account_update_confirms_the_fill_exactly_once() -> None:
    data = loaded(usdt="10000")
    trade = otu(
        x="TRADE", status="FILLED", l="1", z="1", fill_price="30000", trade_id=9, t=T0 + 5, fee="12"
    )
    apply_events(data, [trade], T0)
    assert amount(data) == D(1)
    assert effective_balance(data, "USDT").um_wallet == D("9988")
    assert "UM:BTCUSDT:1" not in data.open_orders
    apply_events(data, [account_update(t=T0 + 5, position="1", usdt="9988")], T0)
    assert data.fills == {}
    assert amount(data) == D(1)
    assert effective_balance(data, "USDT").um_wallet == D("9988")


def test_stale_account_update_is_ignored() -> None:
    data = loaded(position="2", t=T0 + 100)
    apply_events(data, [account_update(t=T0 + 50, position="5")], T0)
    assert amount(data) == D(2)


def test_trade_already_in_rest_data_is_not_counted_again() -> None:
    # REST read the position after trade 9 (updateTime = its T); its event arrives late.
    data = loaded(position="1", t=T0 + 5)
    apply_events(
        data,
        [otu(x="TRADE", status="FILLED", l="1", z="1", fill_price="30000", trade_id=9, t=T0 + 5)],
        T0,
    )
    assert amount(data) == D(1)


def test_margin_fill_pending_until_outbound_account_position() -> None:
    data = loaded(usdt="0")
    data.balances["USDT"] = data.balances["USDT"].__class__("USDT", cross_margin_asset=D(1000))
    report = {
        "e": "executionReport", "E": T0 + 1, "s": "BTCUSDT", "c": "m1", "S": "BUY", "o": "LIMIT",
        "q": "0.01", "p": "30000", "x": "TRADE", "X": "FILLED", "i": 5, "l": "0.01", "z": "0.01",
        "L": "30000", "n": "0.00001", "N": "BTC", "T": T0 + 1, "t": 3, "Y": "300",
    }  # fmt: skip
    effects = apply_events(data, [report], T0)
    assert effects.confirm_keys == {"c:m1"}
    assert effective_balance(data, "USDT").cross_margin_asset == D(700)
    assert effective_balance(data, "BTC").cross_margin_asset == D("0.00999")
    oap = {
        "e": "outboundAccountPosition", "E": T0 + 2, "u": T0 + 1, "U": 1,
        "B": [{"a": "USDT", "f": "700", "l": "0"}, {"a": "BTC", "f": "0.00999", "l": "0"}],
    }  # fmt: skip
    apply_events(data, [oap], T0)
    assert data.fills == {}
    assert effective_balance(data, "USDT").cross_margin_asset == D(700)
    assert effective_balance(data, "BTC").cross_margin_asset == D("0.00999")


def test_balance_update_skipped_when_an_absolute_balance_is_newer() -> None:
    data = loaded()
    oap = {
        "e": "outboundAccountPosition",
        "E": T0 + 10,
        "u": T0 + 10,
        "B": [{"a": "BTC", "f": "1", "l": "0"}],
    }
    apply_events(
        data, [oap, {"e": "balanceUpdate", "a": "BTC", "d": "0.5", "T": T0 + 5, "E": T0 + 5}], T0
    )
    assert data.balances["BTC"].cross_margin_asset == D(1)
    apply_events(
        data, [{"e": "balanceUpdate", "a": "BTC", "d": "0.5", "T": T0 + 20, "E": T0 + 20}], T0
    )
    assert data.balances["BTC"].cross_margin_asset == D("1.5")


def test_liability_change_is_absolute_and_confirms_loans() -> None:
    data = loaded()
    event = {
        "e": "liabilityChange",
        "E": T0 + 1,
        "a": "BTC",
        "t": "BORROW",
        "T": 1,
        "p": "0.2",
        "i": "0.001",
        "l": "0.201",
    }
    effects = apply_events(data, [event, event], T0)
    assert data.balances["BTC"].cross_margin_borrowed == D("0.2")
    assert data.balances["BTC"].cross_margin_interest == D("0.001")
    assert effects.confirm_keys == {"l:BTC"}


def test_algo_and_conditional_orders_are_open_orders_until_triggered() -> None:
    data = loaded()
    algo = {
        "e": "ALGO_UPDATE",
        "E": T0,
        "T": T0,
        "ao": {
            "caid": "a1",
            "aid": 11,
            "o": "STOP_MARKET",
            "s": "BTCUSDT",
            "S": "SELL",
            "ps": "BOTH",
            "q": "1",
            "X": "NEW",
            "tp": "29000",
            "p": "0",
            "R": False,
        },
    }
    cond = {
        "e": "CONDITIONAL_ORDER_TRADE_UPDATE",
        "fs": "UM",
        "E": T0,
        "T": T0,
        "so": {
            "s": "BTCUSDT",
            "c": "s1",
            "si": 12,
            "S": "BUY",
            "st": "TAKE_PROFIT",
            "q": "1",
            "p": "31000",
            "sp": "31000",
            "os": "NEW",
            "ps": "BOTH",
            "R": False,
        },
    }
    effects = apply_events(data, [algo, cond], T0)
    assert set(data.open_orders) == {"UM:BTCUSDT:algo:11", "UM:BTCUSDT:cond:12"}
    assert data.open_orders["UM:BTCUSDT:algo:11"].stop_price == D(29000)
    assert effects.confirm_keys == {"c:a1", "c:s1"}
    algo["ao"]["X"] = "TRIGGERED"  # type: ignore[index]
    apply_events(data, [algo], T0)
    assert set(data.open_orders) == {"UM:BTCUSDT:cond:12"}


def test_risk_level_listen_key_and_marks() -> None:
    data = loaded()
    effects = apply_events(
        data,
        [
            {
                "e": "riskLevelChange",
                "E": T0,
                "u": "1.19",
                "s": "REDUCE_ONLY",
                "eq": "1",
                "ae": "1",
                "m": "1",
            },
            {"e": "listenKeyExpired", "E": T0},
            {
                "stream": "btcusdt@markPrice@1s",
                "data": {
                    "e": "markPriceUpdate",
                    "E": T0,
                    "s": "BTCUSDT",
                    "p": "31000.5",
                    "i": "31000",
                },
            },
            {"e": "somethingNew"},
        ],
        T0 + 7,
    )
    assert data.exchange_uni_mmr == D("1.19")
    assert data.account_status == "REDUCE_ONLY"
    assert effects.listen_key_expired
    assert effects.marks["BTCUSDT"].price == D("31000.5")
    assert effects.marks["BTCUSDT"].time == T0 + 7
    assert effects.unknown == 1


# Exactly once: trades on one symbol; each ORDER_TRADE_UPDATE is followed (later, in stream
# order) by ACCOUNT_UPDATEs reflecting every trade delivered before them. A REST load may
# happen at any point, reading the exchange at some moment at or after the stream's position
# (so it can be ahead of the stream). After every step the effective position must equal the
# sum of the trades the gateway knows of: max(delivered, what the REST load read).


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[str], int | None]:
    n = draw(st.integers(1, 8))
    qtys = [draw(st.integers(-3, 3).filter(bool)) for _ in range(n)]
    rest_at = draw(st.none() | st.integers(0, 3 * n + 1))
    # Equal T happens on the stream; around a REST read two trades in one millisecond are
    # ambiguous (docs/state.md "Limits"), so times are strictly increasing when one happens.
    low = 0 if rest_at is None else 1
    gaps = [draw(st.integers(low, 2)) for _ in range(n)]
    times = []
    t = T0
    for g in gaps:
        t += g
        times.append(t)
    steps: list[str] = []
    for _ in range(n):
        steps.append("trade")
        steps.extend("au" for _ in range(draw(st.integers(0, 2))))
    steps.append("au")
    return list(zip(qtys, times, strict=True)), steps, rest_at


@settings(max_examples=300, deadline=None)
@given(sessions(), st.data())
def test_fills_are_counted_exactly_once(
    session: tuple[list[tuple[int, int]], list[str], int | None], extra: st.DataObject
) -> None:
    trades, steps, rest_at = session
    data = loaded(t=T0 - 1000)
    delivered = 0
    position = 0
    exchange_done = 0  # trades the exchange has done (≥ delivered)
    known = 0  # trades the gateway's data reflects (delivered, or read by REST)
    for i, step in enumerate(steps):
        if rest_at == i:
            ahead = extra.draw(st.integers(delivered, len(trades)))
            exchange_done = max(exchange_done, ahead)
            read = exchange_done
            pos = sum(q for q, _ in trades[:read])
            t_read = trades[read - 1][1] if read else T0 - 1000
            data = merge_load(data, load(position=str(pos), t=t_read, started=t_read))
            known = max(known, read)
        if step == "trade":
            q, t = trades[delivered]
            delivered += 1
            exchange_done = max(exchange_done, delivered)
            side = "BUY" if q > 0 else "SELL"
            apply_events(
                data,
                [
                    otu(
                        x="TRADE",
                        status="FILLED",
                        l=str(abs(q)),
                        z=str(abs(q)),
                        q=str(abs(q)),
                        fill_price="30000",
                        side=side,
                        trade_id=delivered,
                        order_id=delivered,
                        t=t,
                    )
                ],
                T0,
            )
        elif delivered:
            position = sum(q for q, _ in trades[:delivered])
            t = trades[delivered - 1][1]
            apply_events(data, [account_update(t=t, position=str(position))], T0)
        known = max(known, delivered)
        assert amount(data) == sum(q for q, _ in trades[:known]), (i, step)
