"""Small account fixtures for the state tests: static data, events in Binance's shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from margin_gate.clock import ManualClock
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Bracket
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Position
from margin_gate.state.codec import PositionRow
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.config import StateConfig
from margin_gate.state.data import LoadedAccount
from margin_gate.state.data import Static

D = Decimal
T0 = 1_700_000_000_000

BTCUSDT = Instrument("BTCUSDT", "UM", "BTC", "USDT", "USDT", step_size=D("0.001"))
BTCUSD = Instrument("BTCUSD_PERP", "CM", "BTC", "USD", "BTC", contract_size=D(100))
BTCUSDT_M = Instrument("BTCUSDT", "MARGIN", "BTC", "USDT", "USDT")
UM_BRACKETS = (
    Bracket(D(0), D(50000), D("0.004"), D(0)),
    Bracket(D(50000), D(250000), D("0.005"), D(50)),
    Bracket(D(250000), D(10**9), D("0.01"), D(1300)),
)
CM_BRACKETS = (
    Bracket(D(0), D(5), D("0.005"), D(0)),
    Bracket(D(5), D(10**6), D("0.01"), D("0.025")),
)


def static() -> Static:
    return Static(
        instruments={i.key: i for i in (BTCUSDT, BTCUSD, BTCUSDT_M)},
        brackets={"BTCUSDT": UM_BRACKETS, "BTCUSD_PERP": CM_BRACKETS},
        collateral_rates={"USDT": D(1), "BTC": D("0.95")},
    )


def load(
    *,
    usdt: str = "10000",
    btc_margin: str = "0",
    position: str = "0",
    entry: str = "30000",
    mark: str = "30000",
    t: int = T0,
    started: int = T0,
    balance_t: int | None = None,
) -> LoadedAccount:
    rows = (PositionRow(Position("BTCUSDT", "UM", "BOTH", D(position), D(entry)), t, D(mark)),)
    return LoadedAccount(
        static=static(),
        balances={
            "USDT": Balance("USDT", um_wallet=D(usdt)),
            "BTC": Balance("BTC", cross_margin_asset=D(btc_margin)),
        },
        balance_times={"USDT": balance_t or t, "BTC": balance_t or t},
        positions=rows,
        open_orders=(),
        account=None,
        marks={"BTCUSDT": PriceTick(D(mark), t), "BTCUSD_PERP": PriceTick(D(mark), t)},
        asset_index={"USDT": PriceTick(D(1), t), "BTC": PriceTick(D(mark), t)},
        fetch_started_ms=started,
        fetch_done_ms=started,
    )


def otu(
    *,
    x: str,
    status: str,
    q: str = "1",
    z: str = "0",
    l: str = "0",  # noqa: E741 (Binance's field letter)
    price: str = "30000",
    fill_price: str = "0",
    side: str = "BUY",
    order_id: int = 1,
    trade_id: int = 0,
    t: int = T0,
    client: str = "c1",
    rp: str = "0",
    fee: str = "0",
    symbol: str = "BTCUSDT",
    fs: str = "UM",
) -> dict[str, Any]:
    o: dict[str, Any] = {
        "s": symbol, "c": client, "S": side, "o": "LIMIT", "f": "GTC", "q": q, "p": price,
        "ap": "0", "sp": "0", "x": x, "X": status, "i": order_id, "l": l, "z": z,
        "L": fill_price, "T": t, "t": trade_id, "m": False, "R": False, "ps": "BOTH", "rp": rp,
    }  # fmt: skip
    if fee != "0":
        o["N"] = "USDT" if fs == "UM" else "BTC"
        o["n"] = fee
    return {"e": "ORDER_TRADE_UPDATE", "fs": fs, "E": t, "T": t, "o": o}


def account_update(
    *, t: int, position: str | None = None, entry: str = "30000", usdt: str | None = None
) -> dict[str, Any]:
    a: dict[str, Any] = {"m": "ORDER", "B": [], "P": []}
    if usdt is not None:
        a["B"].append({"a": "USDT", "wb": usdt, "cw": usdt, "bc": "0"})
    if position is not None:
        a["P"].append(
            {"s": "BTCUSDT", "pa": position, "ep": entry, "cr": "0", "up": "0", "ps": "BOTH"}
        )
    return {"e": "ACCOUNT_UPDATE", "fs": "UM", "E": t, "T": t, "a": a}


def config(**kw: Any) -> StateConfig:
    return StateConfig(**kw)


def clock() -> ManualClock:
    return ManualClock(T0)
