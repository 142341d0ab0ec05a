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
from margin_gate.margin.model import Market
from margin_gate.margin.model import Position
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.data import AccountData
from margin_gate.state.event_orders import TERMINAL
from margin_gate.state.event_orders import algo_update
from margin_gate.state.event_orders import conditional_update
from margin_gate.state.event_orders import execution_report
from margin_gate.state.event_orders import futures_market
from margin_gate.state.event_orders import order_trade_update
from margin_gate.state.event_orders import position_side
from margin_gate.state.event_orders import store_fill
from margin_gate.state.numbers import dec
from margin_gate.state.numbers import dec_or_none
from margin_gate.state.numbers import int_or_zero

__all__ = ["TERMINAL", "Effects", "apply_event", "apply_events"]

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


# -- balances and positions --


def _account_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    market = futures_market(e)
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
        side = position_side(p.get("ps"))
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
                store_fill(data, k, replace(fill, position_open=False, open_assets=frozenset()))
    effects.data_changed = True


def _close_assets(data: AccountData, market: Market, asset: str, t: int) -> None:
    for k, fill in list(data.fills.items()):
        if fill.market == market and asset in fill.open_assets and fill.time <= t:
            store_fill(data, k, replace(fill, open_assets=fill.open_assets - {asset}))


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


# -- stream control and prices --


def _listen_key_expired(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    effects.listen_key_expired = True


def _mark_price_update(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    effects.marks[str(e.get("s"))] = PriceTick(dec(e.get("p"), "markPriceUpdate.p"), seen_ms)


def _ignore(data: AccountData, e: Event, seen_ms: int, effects: Effects) -> None:
    return None


_HANDLERS = {
    "ACCOUNT_UPDATE": _account_update,
    "ORDER_TRADE_UPDATE": order_trade_update,
    "CONDITIONAL_ORDER_TRADE_UPDATE": conditional_update,
    "ALGO_UPDATE": algo_update,
    "executionReport": execution_report,
    "outboundAccountPosition": _outbound_account_position,
    "balanceUpdate": _balance_update,
    "liabilityChange": _liability_change,
    "riskLevelChange": _risk_level_change,
    "openOrderLoss": _open_order_loss,
    "listenKeyExpired": _listen_key_expired,
    "markPriceUpdate": _mark_price_update,
    "ACCOUNT_CONFIG_UPDATE": _ignore,
}
