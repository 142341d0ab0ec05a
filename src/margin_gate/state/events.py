"""Applying PM user-stream events to `AccountData` (binance-pm.md §4.1, §4.2). Pure: no I/O.

`apply_event(data, event, seen_ms, effects)` mutates a copy the caller owns and records what
else happened in `effects`: client ids the stream has now reported (their reservations are
converted), mark prices, a `listenKeyExpired`. Rules:
- ACCOUNT_UPDATE: `B[].wb` is the absolute UM/CM wallet (`fs`), `P[].pa/ep` the absolute
  position; an entry older than the symbol's / wallet's watermark is stale and skipped. Writing
  it closes the matching part of every pending fill with `T ≤ T'` (exactly-once accounting).
- ORDER_TRADE_UPDATE / executionReport: open orders keep `q − z`; terminal statuses remove;
  each TRADE becomes a pending fill keyed by (market, symbol, tradeId), so a duplicate is a
  no-op, and a trade already older than the confirmed data (`T` < watermark) is not added.
- outboundAccountPosition: absolute `f + l` (and locked `l`) per asset; closes margin fills.
- balanceUpdate: a delta, applied only when newer than the asset's last absolute balance.
- liabilityChange: absolute principal `p` and interest `i`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from decimal import Decimal
from typing import Any

from margin_gate.margin.model import Balance
from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import Market
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import Position
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import Side
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import AccountData
from margin_gate.state.numbers import dec
from margin_gate.state.numbers import dec_or_none
from margin_gate.state.numbers import int_or_zero
from margin_gate.state.types import PendingFill

__all__ = ["TERMINAL", "Effects", "apply_event", "apply_events"]

TERMINAL = frozenset(
    {"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED", "TRIGGERED", "FINISHED"}
)
_OPEN_ALGO = frozenset({"NEW"})
_ZERO = Decimal(0)
Event = Mapping[str, Any]


@dataclass(slots=True)
class Effects:
    """Side results of a batch of events beyond the data itself."""

    data_changed: bool = False
    confirm_keys: set[str] = field(default_factory=set)  # "c:<clientId>", "l:<asset>"
    marks: dict[str, PriceTick] = field(default_factory=dict)
    index: dict[str, PriceTick] = field(default_factory=dict)
    listen_key_expired: bool = False
    unknown: int = 0  # events of a type we do not handle (counted, ignored)


def apply_events(data: AccountData, events: list[Event], seen_ms: int) -> Effects:
    effects = Effects()
    for event in events:
        apply_event(data, event, seen_ms, effects)
    return effects


def apply_event(data: AccountData, event: Event, seen_ms: int, effects: Effects) -> None:
    """Apply one event (a combined-stream `{"stream", "data"}` wrapper is unwrapped)."""
    if "data" in event and "stream" in event and isinstance(event["data"], dict):
        event = event["data"]
    kind = event.get("e")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        effects.unknown += 1
        return
    handler(data, event, seen_ms, effects)


def _futures_market(event: Event) -> FuturesMarket:
    return "CM" if event.get("fs") == "CM" else "UM"


def _side(value: object) -> Side:
    return "SELL" if value == "SELL" else "BUY"


def _pside(value: object) -> PositionSide:
    if value == "LONG" or value == "SHORT":
        return value
    return "BOTH"


# -- balances and positions --


def _account_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    market = _futures_market(e)
    t = int_or_zero(e.get("T")) or int_or_zero(e.get("E"))
    body = e.get("a") or {}
    for b in body.get("B") or ():
        asset = str(b.get("a"))
        wkey = f"{market}:{asset}"
        if t < data.wallet_t.get(wkey, 0):
            continue
        wb = dec(b.get("wb"), "ACCOUNT_UPDATE.B.wb")
        old = data.balances.get(asset) or Balance(asset)
        data.balances[asset] = (
            replace(old, um_wallet=wb) if market == "UM" else replace(old, cm_wallet=wb)
        )
        data.wallet_t[wkey] = t
        data.rest_marks.discard(f"w:{wkey}")
        _close_assets(data, market, asset, t)
    for p in body.get("P") or ():
        symbol = str(p.get("s"))
        if t < data.pos_t.get(symbol, 0):
            continue
        side = _pside(p.get("ps"))
        amount = dec(p.get("pa"), "ACCOUNT_UPDATE.P.pa")
        key = (market, symbol, side)
        if amount == 0:
            data.positions.pop(key, None)
        else:
            entry = dec(p.get("ep"), "ACCOUNT_UPDATE.P.ep")
            data.positions[key] = Position(symbol, market, side, amount, entry)
        data.pos_t[symbol] = t
        data.rest_marks.discard(f"p:{symbol}")
        for k, fill in list(data.fills.items()):
            if fill.market == market and fill.symbol == symbol and fill.time <= t:
                # One ACCOUNT_UPDATE carries a fill's position and wallet changes together.
                _store_fill(data, k, replace(fill, position_open=False, open_assets=frozenset()))
    effects.data_changed = True


def _close_assets(data: AccountData, market: Market, asset: str, t: int) -> None:
    for k, fill in list(data.fills.items()):
        if fill.market == market and asset in fill.open_assets and fill.time <= t:
            _store_fill(data, k, replace(fill, open_assets=fill.open_assets - {asset}))


def _store_fill(data: AccountData, key: tuple[str, str, int], fill: PendingFill) -> None:
    if fill.done:
        data.fills.pop(key, None)
    else:
        data.fills[key] = fill


def _outbound_account_position(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    u = int_or_zero(e.get("u")) or int_or_zero(e.get("E"))
    for b in e.get("B") or ():
        asset = str(b.get("a"))
        if u < data.margin_t.get(asset, 0):
            continue
        free = dec(b.get("f"), "outboundAccountPosition.f")
        locked = dec(b.get("l"), "outboundAccountPosition.l")
        old = data.balances.get(asset) or Balance(asset)
        data.balances[asset] = replace(
            old, cross_margin_asset=free + locked, cross_margin_locked=locked
        )
        data.margin_t[asset] = u
        data.rest_marks.discard(f"m:{asset}")
        _close_assets(data, "MARGIN", asset, u)
    effects.data_changed = True


def _balance_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    asset = str(e.get("a"))
    t = int_or_zero(e.get("T")) or int_or_zero(e.get("E"))
    if t <= data.margin_t.get(asset, 0):
        return  # an absolute balance at or after T already includes it
    delta = dec(e.get("d"), "balanceUpdate.d")
    old = data.balances.get(asset) or Balance(asset)
    data.balances[asset] = replace(old, cross_margin_asset=old.cross_margin_asset + delta)
    effects.data_changed = True


def _liability_change(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    asset = str(e.get("a"))
    stamp = int_or_zero(e.get("E"))
    if stamp < data.liab_e.get(asset, 0):
        return
    old = data.balances.get(asset) or Balance(asset)
    data.balances[asset] = replace(
        old,
        cross_margin_borrowed=dec(e.get("p"), "liabilityChange.p"),
        cross_margin_interest=dec(e.get("i", "0"), "liabilityChange.i"),
    )
    data.liab_e[asset] = stamp
    effects.confirm_keys.add(f"l:{asset}")
    effects.data_changed = True


def _risk_level_change(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    stamp = int_or_zero(e.get("E"))
    if stamp < data.risk_e:
        return
    data.risk_e = stamp
    data.exchange_uni_mmr = dec_or_none(e.get("u"), "riskLevelChange.u")
    data.account_status = str(e.get("s") or data.account_status or "")
    effects.data_changed = True


def _open_order_loss(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    data.open_loss = {
        str(o.get("a")): abs(dec(o.get("o"), "openOrderLoss.o")) for o in e.get("O") or ()
    }
    effects.data_changed = True


# -- orders and fills --


def _set_order(data: AccountData, key: str, order: OpenOrder | None, seen_ms: int) -> None:
    if order is None:
        if data.open_orders.pop(key, None) is not None or key in data.order_seen:
            data.closed_seen[key] = seen_ms
        data.order_seen.pop(key, None)
    else:
        data.open_orders[key] = order
        data.order_seen[key] = seen_ms


def _order_trade_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    market = _futures_market(e)
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
                position_side=_pside(o.get("ps")),
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
        position_side=_pside(o.get("ps")),
        qty=qty,
        price=dec(o.get("L"), "ORDER_TRADE_UPDATE.L"),
        time=t,
        realized=realized,
        fee=fee,
        fee_asset=str(fee_asset) if fee_asset else None,
        position_open=data.pos_new(symbol, t),
        open_assets=open_assets,
    )
    _store_fill(data, key, fill)


def _execution_report(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
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
    _store_fill(data, key, fill)


def _conditional_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    market = _futures_market(e)
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
                position_side=_pside(so.get("ps")),
                reduce_only=so.get("R") is True,
                client_order_id=str(so.get("c")) if so.get("c") else None,
                activation_price=_positive(so.get("AP")),
                callback_rate=_positive(so.get("cr")),
            ),
            seen_ms,
        )
    effects.data_changed = True


def _algo_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
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
                position_side=_pside(ao.get("ps")),
                reduce_only=ao.get("R") is True or close,
                client_order_id=str(ao.get("caid")) if ao.get("caid") else None,
                price_match=ao.get("pm") not in (None, "", "NONE"),
            ),
            seen_ms,
        )
    effects.data_changed = True


# -- stream control and prices --


def _listen_key_expired(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    effects.listen_key_expired = True


def _mark_price_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    effects.marks[str(e.get("s"))] = PriceTick(dec(e.get("p"), "markPriceUpdate.p"), seen_ms)


def _ignore(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    return None


_HANDLERS = {
    "ACCOUNT_UPDATE": _account_update,
    "ORDER_TRADE_UPDATE": _order_trade_update,
    "CONDITIONAL_ORDER_TRADE_UPDATE": _conditional_update,
    "ALGO_UPDATE": _algo_update,
    "executionReport": _execution_report,
    "outboundAccountPosition": _outbound_account_position,
    "balanceUpdate": _balance_update,
    "liabilityChange": _liability_change,
    "riskLevelChange": _risk_level_change,
    "openOrderLoss": _open_order_loss,
    "listenKeyExpired": _listen_key_expired,
    "markPriceUpdate": _mark_price_update,
    "ACCOUNT_CONFIG_UPDATE": _ignore,
}
