"""Change tracking, the Redis delta codec and the live view's incremental updates.

Properties, over random batches of user-stream events:
- a mirror that applies only the changed fields (`delta_fields` → `apply_fields`) holds the
  same data as the owner that applied the events;
- all fields (`data_fields` → `data_from_fields`) round-trip exactly;
- the incrementally updated `LiveAccount` (only the touched symbols, assets and orders) holds
  the same effective positions and balances as a rebuild, and the same uniMMR.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from margin_gate.state.account import LiveAccount
from margin_gate.state.data import AccountData
from margin_gate.state.data import Changes
from margin_gate.state.data import Tracked
from margin_gate.state.data import TrackedSet
from margin_gate.state.effective import effective_balances
from margin_gate.state.effective import effective_positions
from margin_gate.state.events import apply_events
from margin_gate.state.reconcile import merge_load
from margin_gate.state.serial import apply_fields
from margin_gate.state.serial import data_fields
from margin_gate.state.serial import data_from_fields
from margin_gate.state.serial import delta_fields
from tests.unit.state.builders import T0
from tests.unit.state.builders import account_update
from tests.unit.state.builders import clock
from tests.unit.state.builders import config
from tests.unit.state.builders import load
from tests.unit.state.builders import otu

D = Decimal


def test_tracked_containers_record_every_write() -> None:
    d: Tracked[str, int] = Tracked({"a": 1, "b": 2})
    d["c"] = 3
    d.pop("a")
    d.pop("zz", None)
    del d["b"]
    d.setdefault("e", 5)
    d.update({"f": 6})
    assert d.touched == {"a", "b", "c", "e", "f", "zz"}
    assert d == {"c": 3, "e": 5, "f": 6}
    s = TrackedSet({"x"})
    s.add("y")
    s.discard("x")
    s.update({"z"})
    assert s.touched == {"x", "y", "z"}
    assert s == {"y", "z"}


def test_changes_name_only_what_a_batch_touched() -> None:
    old = merge_load(AccountData(), load(position="1"))
    new = old.copy()
    apply_events(new, [otu(x="NEW", status="NEW", q="2", order_id=5)], T0 + 1)
    changes = Changes.between(old, new)
    assert changes.keys["open_orders"] == {"UM:BTCUSDT:5"}
    assert changes.keys["order_seen"] == {"UM:BTCUSDT:5"}
    assert not changes.keys["positions"]
    assert not changes.keys["balances"]
    assert not changes.scalars
    assert not changes.full
    assert Changes.between(old, merge_load(old, load(position="2"))).full


def test_an_event_batch_takes_over_closed_seen_instead_of_copying_it() -> None:
    old = merge_load(AccountData(), load(position="1"))
    apply_events(old, [otu(x="NEW", status="NEW", q="2", order_id=5)], T0 + 1)
    old.closed_seen["UM:BTCUSDT:4"] = T0
    reference = old.copy()
    new = old.copy_for_events()
    assert new.closed_seen == {}
    batch = [otu(x="EXPIRED", status="EXPIRED", q="2", order_id=5)]
    apply_events(reference, batch, T0 + 2)
    apply_events(new, batch, T0 + 2)
    changes = Changes.between(old, new)
    assert changes.keys == Changes.between(old, reference).keys
    assert changes.keys["closed_seen"] == {"UM:BTCUSDT:5"}
    new.keep_closed_seen(old)
    assert type(new.closed_seen) is dict
    assert new.closed_seen == reference.closed_seen == {"UM:BTCUSDT:4": T0, "UM:BTCUSDT:5": T0 + 2}
    assert new.open_orders == reference.open_orders == {}


def test_copy_keeps_every_field() -> None:
    values = {
        f.name: getattr(merge_load(AccountData(), load(position="1")), f.name)
        for f in dataclasses.fields(AccountData)
    }
    values.update(
        static_version=2,
        version=3,
        open_orders={"o": None},
        fills={"f": None},
        open_loss={"USD": D(1)},
        account_status="NORMAL",
        exchange_uni_mmr=D(5),
        pos_t={"BTCUSDT": 1},
        wallet_t={"UM:USDT": 1},
        margin_t={"USDT": 1},
        liab_e={"USDT": 1},
        risk_e=7,
        rest_marks={"p:BTCUSDT"},
        order_seen={"o": 1},
        closed_seen={"k": 1},
        loaded_ms=9,
        drift=D("0.1"),
        gateway_uni_mmr=D(4),
        degraded_reason="x",
    )
    default = AccountData()
    assert all(values[f.name] != getattr(default, f.name) for f in dataclasses.fields(default))
    original = AccountData(**values)
    for copied in (original.copy(), original.copy_for_events()):
        for f in dataclasses.fields(AccountData):
            if f.name != "closed_seen" or copied.closed_seen:
                assert getattr(copied, f.name) == values[f.name], f.name


# -- random sessions --

SYMBOL_T = 10


def event(kind: str, i: int, rng: st.DataObject) -> dict[str, Any]:
    t = T0 + 10 * i
    draw = rng.draw
    if kind == "new":
        qty = draw(st.sampled_from(["0.5", "1", "2"]))
        return otu(x="NEW", status="NEW", q=qty, order_id=draw(st.integers(1, 4)), t=t)
    if kind == "cancel":
        return otu(x="CANCELED", status="CANCELED", order_id=draw(st.integers(1, 4)), t=t)
    if kind == "trade":
        q = draw(st.sampled_from(["0.1", "0.5", "1"]))
        return otu(
            x="TRADE",
            status="PARTIALLY_FILLED",
            q="5",
            z=q,
            l=q,
            fill_price=draw(st.sampled_from(["29000", "30000", "31000"])),
            side=draw(st.sampled_from(["BUY", "SELL"])),
            order_id=draw(st.integers(1, 4)),
            trade_id=i,
            t=t,
            rp=draw(st.sampled_from(["0", "12.5", "-3"])),
            fee=draw(st.sampled_from(["0", "0.25"])),
        )
    if kind == "position":
        return account_update(t=t, position=draw(st.sampled_from(["0", "1", "-2", "3.5"])))
    if kind == "wallet":
        return account_update(t=t, usdt=draw(st.sampled_from(["9000", "10000", "12000.5"])))
    if kind == "margin":
        return {
            "e": "outboundAccountPosition",
            "E": t,
            "u": t,
            "B": [{"a": "BTC", "f": draw(st.sampled_from(["0", "0.5", "1"])), "l": "0"}],
        }
    if kind == "loss":
        return {"e": "openOrderLoss", "E": t, "O": [{"a": "USDT", "o": "-12.5"}]}
    return {"e": "riskLevelChange", "E": t, "u": "5.5", "s": "NORMAL"}


KINDS = ("new", "cancel", "trade", "position", "wallet", "margin", "loss", "risk")


def live(data: AccountData) -> LiveAccount:
    acct = LiveAccount("a", config(), clock())
    ld = load(position="1")
    acct.update_prices(ld.marks, ld.asset_index)
    acct.replace_data(data)
    return acct


def parsed(sets: dict[str, bytes]) -> dict[str, Any]:
    return {k: orjson.loads(v) for k, v in sets.items()}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4), max_size=8), st.data())
def test_deltas_and_incremental_views_match_full_state(
    batches: list[list[str]], rng: st.DataObject
) -> None:
    owner = merge_load(AccountData(), load(position="1", btc_margin="0.5"))
    mirror = data_from_fields(parsed(data_fields(owner)), owner.static, owner.version)
    assert mirror == owner
    acct = live(owner)
    i = 0
    for batch in batches:
        events = []
        for kind in batch:
            i += 1
            events.append(event(kind, i, rng))
        new = owner.copy()
        apply_events(new, events, T0 + i)
        changes = Changes.between(owner, new)
        sets, dels = delta_fields(new, changes)
        mirrored = mirror.copy()
        apply_fields(mirrored, parsed(sets), dels)
        acct.replace_data(new, changes)
        owner, mirror = new, mirrored
        assert mirror == owner
        assert data_from_fields(parsed(data_fields(owner)), owner.static, 0) == owner
        assert acct._positions == effective_positions(owner)
        assert acct._balances == effective_balances(owner)
        rebuilt = live(owner)
        assert acct.risk is not None
        assert rebuilt.risk is not None
        assert close(acct.risk.uni_mmr(), rebuilt.risk.uni_mmr())


def close(a: Decimal, b: Decimal) -> bool:
    if not (a.is_finite() and b.is_finite()):
        return a == b
    return abs(a - b) <= D("1e-18") * max(1, abs(b))
