"""Order events → open orders and pending fills (binance-pm.md §4.2): ORDER_TRADE_UPDATE,
executionReport, CONDITIONAL_ORDER_TRADE_UPDATE, ALGO_UPDATE. Pure; `events.py` dispatches here.

Open orders keep what is left to fill (`q − z`); a terminal status removes them. Every
TRADE becomes a `PendingFill` keyed by (market, symbol, tradeId), so a duplicate delivery is a
no-op; a part of the fill already covered by newer confirmed data is not opened at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import Side
from margin_gate.state.data import AccountData
from margin_gate.state.numbers import dec
from margin_gate.state.numbers import dec_or_none
from margin_gate.state.numbers import int_or_zero
from margin_gate.state.types import PendingFill

if TYPE_CHECKING:
    from margin_gate.state.events import Effects

__all__ = [
    "TERMINAL",
    "algo_update",
    "conditional_update",
    "execution_report",
    "futures_market",
    "order_trade_update",
    "position_side",
    "store_fill",
]

TERMINAL = frozenset(
    {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED", "TRIGGERED", "FINISHED"}
)
_OPEN_ALGO = frozenset({"NEW"})
Event = Mapping[str, Any]


def futures_market(event: Event) -> FuturesMarket:
    return "CM" if event.get("fs") == "CM" else "UM"


def _side(value: object) -> Side:
    return "SELL" if value == "SELL" else "BUY"


def position_side(value: object) -> PositionSide:
    if value == "LONG" or value == "SHORT":
        return value
    return "BOTH"


def store_fill(data: AccountData, key: tuple[str, str, int], fill: PendingFill) -> None:
    if fill.done:
        data.fills.pop(key, None)
    else:
        data.fills[key] = fill


def _set_order(data: AccountData, key: str, order: OpenOrder | None, seen_ms: int) -> None:
    if order is None:
        if data.open_orders.pop(key, None) is not None or key in data.order_seen:
            data.closed_seen[key] = seen_ms
        data.order_seen.pop(key, None)
    else:
        data.open_orders[key] = order
        data.order_seen[key] = seen_ms


def order_trade_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    market = futures_market(e)
    o = e.get("o") or {}
    symbol, order_id = str(o.get("s")), str(o.get("i"))
    key = f"{market}:{symbol}:{order_id}"
    client = o.get("c")
    if client:
        effects.confirm_keys.add(f"c:{client}")
    status = str(o.get("X"))
    qty = dec(o.get("q", "0"), "ORDER_TRADE_UPDATE.q")
    filled = dec(o.get("z", "0"), "ORDER_TRADE_UPDATE.z")
    if status in TERMINAL or qty - filled <= 0:
        _set_order(data, key, None, seen_ms)
    else:
        close = o.get("cp") is True
        _set_order(
            data,
            key,
            OpenOrder(
                market=market,
                symbol=symbol,
                order_id=order_id,
                side=_side(o.get("S")),
                order_type=str(o.get("o") or o.get("ot") or "LIMIT"),
                quantity=None if close else qty - filled,
                price=_positive(o.get("p")),
                stop_price=_positive(o.get("sp")),
                position_side=position_side(o.get("ps")),
                reduce_only=o.get("R") is True or close,
                client_order_id=str(client) if client else None,
                activation_price=_positive(o.get("AP")),
                callback_rate=_positive(o.get("cr")),
                price_match=o.get("pm") not in (None, "", "NONE"),
            ),
            seen_ms,
        )
    if o.get("x") == "TRADE":
        _add_fill(data, market, symbol, order_id, o, e)
    effects.data_changed = True


def _positive(value: object) -> Decimal | None:
    number = dec_or_none(value, "price")
    return number if number is not None and number != 0 else None


def _add_fill(
    data: AccountData, market: FuturesMarket, symbol: str, order_id: str, o: Event, e: Event
) -> None:
    qty = dec(o.get("l", "0"), "ORDER_TRADE_UPDATE.l")
    trade_id = int_or_zero(o.get("t"))
    t = int_or_zero(o.get("T")) or int_or_zero(e.get("T")) or int_or_zero(e.get("E"))
    key = (market, symbol, trade_id)
    if qty <= 0 or key in data.fills:
        return
    fee = dec(o.get("n", "0"), "ORDER_TRADE_UPDATE.n")
    fee_asset = o.get("N") or None
    instrument = data.static.instrument(market, symbol)
    assets = {fee_asset} if fee_asset and fee else set()
    realized = dec(o.get("rp", "0"), "ORDER_TRADE_UPDATE.rp")
    if instrument is not None and realized:
        assets.add(instrument.margin_asset)
    open_assets = frozenset(a for a in assets if data.wallet_new(market, a, t))
    fill = PendingFill(
        market=market,
        symbol=symbol,
        trade_id=trade_id,
        order_id=order_id,
        side=_side(o.get("S")),
        position_side=position_side(o.get("ps")),
        qty=qty,
        price=dec(o.get("L"), "ORDER_TRADE_UPDATE.L"),
        time=t,
        realized=realized,
        fee=fee,
        fee_asset=str(fee_asset) if fee_asset else None,
        position_open=data.pos_new(symbol, t),
        open_assets=open_assets,
    )
    store_fill(data, key, fill)


def execution_report(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    symbol, order_id = str(e.get("s")), str(e.get("i"))
    key = f"MARGIN:{symbol}:{order_id}"
    for client in (e.get("c"), e.get("C")):
        if client:
            effects.confirm_keys.add(f"c:{client}")
    status = str(e.get("X"))
    qty = dec(e.get("q", "0"), "executionReport.q")
    filled = dec(e.get("z", "0"), "executionReport.z")
    if status in TERMINAL or qty - filled <= 0:
        _set_order(data, key, None, seen_ms)
    else:
        client = e.get("C") if e.get("x") == "CANCELED" and e.get("C") else e.get("c")
        _set_order(
            data,
            key,
            OpenOrder(
                market="MARGIN",
                symbol=symbol,
                order_id=order_id,
                side=_side(e.get("S")),
                order_type=str(e.get("o") or "LIMIT"),
                quantity=qty - filled,
                price=_positive(e.get("p")),
                stop_price=_positive(e.get("P")),
                client_order_id=str(client) if client else None,
            ),
            seen_ms,
        )
    if e.get("x") == "TRADE":
        _add_margin_fill(data, symbol, order_id, e)
    effects.data_changed = True


def _add_margin_fill(data: AccountData, symbol: str, order_id: str, e: Event) -> None:
    qty = dec(e.get("l", "0"), "executionReport.l")
    trade_id = int_or_zero(e.get("t"))
    t = int_or_zero(e.get("T")) or int_or_zero(e.get("E"))
    key = ("MARGIN", symbol, trade_id)
    if qty <= 0 or key in data.fills:
        return
    price = dec(e.get("L"), "executionReport.L")
    quote = dec_or_none(e.get("Y"), "executionReport.Y")
    fee_asset = e.get("N") or None
    fee = dec(e.get("n", "0"), "executionReport.n")
    instrument = data.static.instrument("MARGIN", symbol)
    assets = {fee_asset} if fee_asset and fee else set()
    if instrument is not None:
        assets.update((instrument.base_asset, instrument.quote_asset))
    fill = PendingFill(
        market="MARGIN",
        symbol=symbol,
        trade_id=trade_id,
        order_id=order_id,
        side=_side(e.get("S")),
        position_side="BOTH",
        qty=qty,
        price=price,
        time=t,
        fee=fee,
        fee_asset=str(fee_asset) if fee_asset else None,
        quote_qty=quote if quote is not None else qty * price,
        position_open=False,
        open_assets=frozenset(a for a in assets if data.margin_new(a, t)),
    )
    store_fill(data, key, fill)


def conditional_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    market = futures_market(e)
    so = e.get("so") or {}
    symbol = str(so.get("s"))
    key = f"{market}:{symbol}:cond:{so.get('si')}"
    if so.get("c"):
        effects.confirm_keys.add(f"c:{so.get('c')}")
    if so.get("os") != "NEW":
        _set_order(data, key, None, seen_ms)
    else:
        _set_order(
            data,
            key,
            OpenOrder(
                market=market,
                symbol=symbol,
                order_id=f"cond:{so.get('si')}",
                side=_side(so.get("S")),
                order_type=str(so.get("st") or "STOP_MARKET"),
                quantity=dec_or_none(so.get("q"), "so.q"),
                price=_positive(so.get("p")),
                stop_price=_positive(so.get("sp")),
                position_side=position_side(so.get("ps")),
                reduce_only=so.get("R") is True,
                client_order_id=str(so.get("c")) if so.get("c") else None,
                activation_price=_positive(so.get("AP")),
                callback_rate=_positive(so.get("cr")),
            ),
            seen_ms,
        )
    effects.data_changed = True


def algo_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    ao = e.get("ao") or {}
    symbol = str(ao.get("s"))
    key = f"UM:{symbol}:algo:{ao.get('aid')}"
    if ao.get("caid"):
        effects.confirm_keys.add(f"c:{ao.get('caid')}")
    if ao.get("X") not in _OPEN_ALGO:
        _set_order(data, key, None, seen_ms)
    else:
        close = ao.get("cp") is True
        _set_order(
            data,
            key,
            OpenOrder(
                market="UM",
                symbol=symbol,
                order_id=f"algo:{ao.get('aid')}",
                side=_side(ao.get("S")),
                order_type=str(ao.get("o") or "STOP_MARKET"),
                quantity=None if close else dec_or_none(ao.get("q"), "ao.q"),
                price=_positive(ao.get("p")),
                stop_price=_positive(ao.get("tp")),
                position_side=position_side(ao.get("ps")),
                reduce_only=ao.get("R") is True or close,
                client_order_id=str(ao.get("caid")) if ao.get("caid") else None,
                price_match=ao.get("pm") not in (None, "", "NONE"),
            ),
            seen_ms,
        )
    effects.data_changed = True
