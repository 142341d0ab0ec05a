"""Builders for margin-engine tests: a standard market and small accounts in one line.

Standard market (all numbers chosen so hand arithmetic stays exact):
- BTCUSDT (UM): mark 40,000; brackets 0.4% to 50k, 0.5% (cum 50) to 250k, 1% (cum 1,300) beyond.
- ETHUSDT (UM): mark 2,000; flat 0.5%.
- BTCUSD_PERP (CM, 100 USD/contract): mark 40,000; coin brackets 0.4% to 5 BTC, 0.5% (cum
  0.005) to 50 BTC, 1% (cum 0.255) beyond.
- BTCUSDT / ETHUSDT (MARGIN pairs): priced at the index ratio.
- Index prices USDT 1, BTC 40,000, ETH 2,000; collateral USDT 1, BTC 0.95, ETH 0.9.
- Settings: slippage 0.5%, futures taker 0.05%, margin taker 0.1%, loan MM 10%, b = 1.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from decimal import localcontext
from typing import Any

from margin_gate.margin import AccountRisk
from margin_gate.margin import AccountSnapshot
from margin_gate.margin import Balance
from margin_gate.margin import Bracket
from margin_gate.margin import Instrument
from margin_gate.margin import OpenOrder
from margin_gate.margin import OrderIntent
from margin_gate.margin import Position
from margin_gate.margin import ProjectionSettings
from margin_gate.margin import instrument_map
from margin_gate.margin import parse_intent
from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import PositionSide
from margin_gate.wire.errors import BinanceError

D = Decimal
USDT, BTC, ETH = "USDT", "BTC", "ETH"

BTCUSDT_BRACKETS = (
    Bracket(D(0), D(50_000), D("0.004"), D(0)),
    Bracket(D(50_000), D(250_000), D("0.005"), D(50)),
    Bracket(D(250_000), D("1e12"), D("0.01"), D(1_300)),
)
FLAT_BRACKETS = (Bracket(D(0), D("1e12"), D("0.005"), D(0)),)
CM_BRACKETS = (
    Bracket(D(0), D(5), D("0.004"), D(0)),
    Bracket(D(5), D(50), D("0.005"), D("0.005")),
    Bracket(D(50), D("1e9"), D("0.01"), D("0.255")),
)
INSTRUMENTS = instrument_map(
    [
        Instrument("BTCUSDT", "UM", BTC, USDT, USDT, tick_size=D("0.1"), step_size=D("0.001")),
        Instrument("ETHUSDT", "UM", ETH, USDT, USDT, tick_size=D("0.01"), step_size=D("0.001")),
        Instrument("BTCUSD_PERP", "CM", BTC, "USD", BTC, D(100), D("0.1"), D(1)),
        Instrument(
            "BTCUSDT", "MARGIN", BTC, USDT, USDT, tick_size=D("0.01"), step_size=D("0.00001")
        ),
        Instrument(
            "ETHUSDT", "MARGIN", ETH, USDT, USDT, tick_size=D("0.01"), step_size=D("0.0001")
        ),
    ]
)
BRACKETS = {"BTCUSDT": BTCUSDT_BRACKETS, "ETHUSDT": FLAT_BRACKETS, "BTCUSD_PERP": CM_BRACKETS}
MARKS = {"BTCUSDT": D(40_000), "ETHUSDT": D(2_000), "BTCUSD_PERP": D(40_000)}
PRICES = {USDT: D(1), BTC: D(40_000), ETH: D(2_000)}
RATES: dict[str, CollateralRate] = {USDT: D(1), BTC: D("0.95"), ETH: D("0.9")}
SETTINGS = ProjectionSettings()


def ratio(a: Decimal | int | str, b: Decimal | int | str) -> Decimal:
    """a / b under the engine's context, for asserting the engine's exact quotient."""
    with localcontext(ENGINE_CONTEXT):
        return D(a) / D(b)


def usdt(um: Any = 0, cross: Any = 0, borrowed: Any = 0, interest: Any = 0) -> Balance:
    return Balance(USDT, D(cross), D(borrowed), D(interest), um_wallet=D(um))


def coin(
    asset: str, cross: Any = 0, borrowed: Any = 0, interest: Any = 0, um: Any = 0, cm: Any = 0
) -> Balance:
    return Balance(asset, D(cross), D(borrowed), D(interest), D(um), D(cm))


def pos(symbol: str, amount: Any, entry: Any, side: PositionSide = "BOTH") -> Position:
    market = "CM" if symbol.endswith("_PERP") else "UM"
    return Position(symbol, market, side, D(amount), D(entry))  # type: ignore[arg-type]


ETH_LONG = pos("ETHUSDT", 10, 2_000)  # notional 20,000 × 0.5% = 100 USDT MM, no uPnL


def snapshot(
    *balances: Balance,
    positions: tuple[Position, ...] = (),
    open_orders: tuple[OpenOrder, ...] = (),
    marks: Mapping[str, Decimal] | None = None,
    prices: Mapping[str, Decimal] | None = None,
    rates: Mapping[str, CollateralRate] | None = None,
    **kw: Any,
) -> AccountSnapshot:
    return AccountSnapshot(
        balances=balances,
        positions=positions,
        instruments=INSTRUMENTS,
        brackets=BRACKETS,
        mark_prices={**MARKS, **(marks or {})},
        index_prices={**PRICES, **(prices or {})},
        collateral_rates={**RATES, **(rates or {})},
        open_orders=open_orders,
        **kw,
    )


def risk(*balances: Balance, settings: ProjectionSettings = SETTINGS, **kw: Any) -> AccountRisk:
    return AccountRisk.from_snapshot(snapshot(*balances, **kw), settings)


def intent(path: str, method: str = "POST", **params: str) -> OrderIntent:
    """Parse a request that must be valid."""
    parsed = parse_intent(method, path, params, INSTRUMENTS)
    assert not isinstance(parsed, BinanceError), parsed
    return parsed


def um_order(side: str, quantity: str, order_type: str = "MARKET", **params: str) -> OrderIntent:
    return intent(
        "/papi/v1/um/order",
        symbol=params.pop("symbol", "BTCUSDT"),
        side=side,
        type=order_type,
        quantity=quantity,
        **params,
    )


def margin_order(
    side: str, order_type: str = "MARKET", symbol: str = "BTCUSDT", **params: str
) -> OrderIntent:
    return intent("/papi/v1/margin/order", symbol=symbol, side=side, type=order_type, **params)
