"""Merging a REST load into live account data without losing or double counting anything.

The stream keeps running while the REST calls are in flight, so the load and the stream
overlap. Per item, the newer source wins:
- a position / balance: REST (`updateTime`) unless the stream already applied data with a later
  exchange time for it (its watermark is newer);
- a pending fill part: dropped when the confirmed data it would be counted in is at least as
  new as the trade (`T ≤` watermark), i.e. the REST data already contains it;
- an open order: REST's list, plus orders the stream opened after the load started, minus
  orders the stream closed after the load started (local receive times).
Symbols or assets REST does not list are judged against the local load start time.
"""

from __future__ import annotations

from dataclasses import replace

from margin_gate.margin.model import Balance
from margin_gate.margin.model import Position
from margin_gate.state.codec import open_order_key
from margin_gate.state.data import AccountData
from margin_gate.state.data import LoadedAccount
from margin_gate.state.types import PendingFill

__all__ = ["merge_load"]


def _balance_watermark(data: AccountData, asset: str) -> int:
    return max(
        data.wallet_t.get(f"UM:{asset}", 0),
        data.wallet_t.get(f"CM:{asset}", 0),
        data.margin_t.get(asset, 0),
        data.liab_e.get(asset, 0),
    )


def _merge_positions(old: AccountData, new: AccountData, load: LoadedAccount) -> None:
    rest_t: dict[str, int] = {}
    rest: dict[str, list[Position]] = {}
    for row in load.positions:
        p = row.position
        rest_t[p.symbol] = max(rest_t.get(p.symbol, 0), row.update_time)
        rest.setdefault(p.symbol, []).append(p)
    started = load.fetch_started_ms
    for symbol in set(rest_t) | set(old.pos_t) | {k[1] for k in old.positions}:
        t_old = old.pos_t.get(symbol, 0)
        # REST lists the symbol: its updateTime; REST omits it: flat as of the load start.
        t_rest = rest_t.get(symbol, started)
        if t_rest >= t_old:
            new.pos_t[symbol] = t_rest
            new.rest_marks.add(f"p:{symbol}")
            for p in rest.get(symbol, ()):
                if p.amount != 0:
                    new.positions[(p.market, p.symbol, p.position_side)] = p
        else:  # the stream is ahead of REST for this symbol: keep the stream's positions
            new.pos_t[symbol] = t_old
            if f"p:{symbol}" in old.rest_marks:
                new.rest_marks.add(f"p:{symbol}")
            for key, p in old.positions.items():
                if key[1] == symbol:
                    new.positions[key] = p


def _merge_balances(old: AccountData, new: AccountData, load: LoadedAccount) -> None:
    started = load.fetch_started_ms
    for asset in set(load.balances) | set(old.balances):
        t_old = _balance_watermark(old, asset)
        t_rest = load.balance_times.get(asset, started)
        if t_rest >= t_old:
            if asset in load.balances:
                new.balances[asset] = load.balances[asset]
            for wkey in (f"UM:{asset}", f"CM:{asset}"):
                new.wallet_t[wkey] = t_rest
                new.rest_marks.add(f"w:{wkey}")
            new.margin_t[asset] = new.liab_e[asset] = t_rest
            new.rest_marks.add(f"m:{asset}")
        else:  # the stream is ahead of REST for this asset
            new.balances[asset] = old.balances.get(asset) or Balance(asset)
            for wkey in (f"UM:{asset}", f"CM:{asset}"):
                new.wallet_t[wkey] = old.wallet_t.get(wkey, 0)
            new.margin_t[asset] = old.margin_t.get(asset, 0)
            new.liab_e[asset] = old.liab_e.get(asset, 0)
            new.rest_marks.update(
                k for k in old.rest_marks if k in (f"w:UM:{asset}", f"w:CM:{asset}", f"m:{asset}")
            )


def _still_open(fill: PendingFill, new: AccountData) -> PendingFill | None:
    if fill.market == "MARGIN":
        assets = frozenset(a for a in fill.open_assets if new.margin_new(a, fill.time))
        return replace(fill, open_assets=assets) if assets else None
    if not (fill.position_open and new.pos_new(fill.symbol, fill.time)):
        return None  # the position part is in REST: so is the wallet part (same update)
    assets = frozenset(a for a in fill.open_assets if new.wallet_new(fill.market, a, fill.time))
    return replace(fill, position_open=True, open_assets=assets)


def _merge_orders(old: AccountData, new: AccountData, load: LoadedAccount) -> None:
    started = load.fetch_started_ms
    for order in load.open_orders:
        key = open_order_key(order)
        if old.closed_seen.get(key, 0) >= started:
            continue  # the stream closed it after REST read it
        new.open_orders[key] = order
    for key, order in old.open_orders.items():
        if key not in new.open_orders and old.order_seen.get(key, 0) >= started:
            new.open_orders[key] = order  # opened after the load started
    new.order_seen = {k: t for k, t in old.order_seen.items() if k in new.open_orders}
    new.closed_seen = {k: t for k, t in old.closed_seen.items() if t >= started}


def merge_load(old: AccountData, load: LoadedAccount) -> AccountData:
    """A new `AccountData` from `load` merged with what the stream applied meanwhile."""
    new = AccountData(
        static=load.static,
        static_version=old.static_version + (0 if load.static == old.static else 1),
        loaded=True,
        version=old.version,
        open_loss=(
            {"USD": abs(load.account.open_loss_usd)}
            if load.account is not None
            else dict(old.open_loss)
        ),
        account_status=load.account.status if load.account is not None else old.account_status,
        exchange_uni_mmr=(
            load.account.uni_mmr if load.account is not None else old.exchange_uni_mmr
        ),
        risk_e=old.risk_e,
        loaded_ms=load.fetch_started_ms,
        drift=old.drift,
        gateway_uni_mmr=old.gateway_uni_mmr,
        degraded_reason=old.degraded_reason,
    )
    _merge_positions(old, new, load)
    _merge_balances(old, new, load)
    for key, fill in old.fills.items():
        kept = _still_open(fill, new)
        if kept is not None and not kept.done:
            new.fills[key] = kept
    _merge_orders(old, new, load)
    return new
