"""A stand-in for the gateway's order path until the lead wires it: view → parse → project →
reserve at the viewed versions, retrying on conflict (store.py docstring), and the account
the race tests start from."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from margin_gate.margin import parse_intent
from margin_gate.margin import project
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Position
from margin_gate.state.codec import PositionRow
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import LoadedAccount
from margin_gate.state.store import StateStore
from tests.unit.state.builders import static

D = Decimal
ORDER = "/papi/v1/um/order"
Verdict = Literal["accepted", "rejected", "exhausted", "stale"]


async def check_and_reserve(
    store: StateStore,
    account: str,
    params: dict[str, str],
    cid: str,
    floor: Decimal,
    tries: int = 200,
) -> Verdict:
    for _ in range(tries):
        view = store.view(account)
        if view.stale_reason is not None or view.risk is None:
            return "stale"
        intent = parse_intent(
            "POST", ORDER, {**params, "newClientOrderId": cid}, view.risk.snapshot.instruments
        )
        if hasattr(intent, "code"):
            raise AssertionError(intent)
        projection = project(view.risk, intent)
        if projection.unimmr_after < floor:
            return "rejected"
        r = store.new_reservation(account, cid, projection.worst_case_legs, client_id=cid)
        result = await store.reserve(account, view.versions, [r])
        if result.ok:
            return "accepted"
        if result.error is not None:
            raise AssertionError(result.error)
    return "exhausted"


def race_load(now_ms: int, usdt: str = "10000") -> LoadedAccount:
    """10,000 USDT in the UM wallet, long 2 BTCUSDT at 50,000, mark 50,000."""
    rows = (PositionRow(Position("BTCUSDT", "UM", "BOTH", D(2), D(50000)), now_ms, D(50000)),)
    return LoadedAccount(
        static=static(),
        balances={"USDT": Balance("USDT", um_wallet=D(usdt))},
        balance_times={"USDT": now_ms},
        positions=rows,
        open_orders=(),
        account=None,
        marks={"BTCUSDT": PriceTick(D(50000), now_ms)},
        asset_index={"USDT": PriceTick(D(1), now_ms), "BTC": PriceTick(D(50000), now_ms)},
        fetch_started_ms=now_ms,
        fetch_done_ms=now_ms,
    )
