"""User data stream and market stream payloads, shaped as binance-pm.md §4.2-§4.3 describe.

Pure builders returning dicts; `streams.py` serializes and delivers them. Field types follow the
official PM SDK's stream models (strings for numbers, ints for ids and times, bools for flags).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from margin_gate.paper.ledger import Balance
from margin_gate.paper.ledger import Position
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import fmt8
from margin_gate.paper.numbers import fmt_step
from margin_gate.paper.numbers import num8
from margin_gate.paper.numbers import plain
from margin_gate.paper.orders import Fill
from margin_gate.paper.orders import Order
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import Kind
from margin_gate.paper.schema import MarginSymbol

__all__ = [
    "WalletChange",
    "account_update",
    "algo_update",
    "balance_update",
    "execution_report",
    "liability_change",
    "listen_key_expired",
    "mark_price_update",
    "order_trade_update",
    "outbound_account_position",
    "risk_level_change",
]

Event = dict[str, Any]
# (asset, wallet balance after, balance change excluding PnL and fees)
WalletChange = tuple[str, Decimal, Decimal]


def order_trade_update(
    order: Order, spec: FuturesSymbol, *, x: str, fill: Fill | None, now: int
) -> Event:
    f = spec.filters
    o: Event = {
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt_step(order.quantity, f.step_size),
        "p": fmt_step(order.price, f.tick_size),
        "ap": num8(order.avg_price),
        "sp": "0",
        "x": x,
        "X": order.status,
        "i": order.order_id,
        "l": fmt_step(fill.qty if fill else ZERO, f.step_size),
        "z": fmt_step(order.executed_qty, f.step_size),
        "L": fmt_step(fill.price if fill else ZERO, f.tick_size),
        "T": now,
        "t": fill.trade_id if fill else 0,
        "b": "0",
        "a": "0",
        "m": fill.maker if fill else False,
        "R": order.reduce_only,
        "ps": order.position_side,
        "rp": fmt8(fill.realized) if fill else "0",
        "V": order.stp,
        "pm": "NONE",
        "gtd": order.good_till_date,
    }
    if fill is not None:
        o["N"] = fill.commission_asset
        o["n"] = fmt8(fill.commission)
    return {"e": "ORDER_TRADE_UPDATE", "fs": spec.kind, "E": now, "T": now, "o": o}


def account_update(
    kind: Kind,
    reason: str,
    wallets: Iterable[WalletChange],
    positions: Iterable[tuple[Position, Decimal]],
    *,
    now: int,
    txn_time: int,
) -> Event:
    """`positions` pairs each changed leg with its unrealized PnL at mark."""
    event: Event = {
        "e": "ACCOUNT_UPDATE",
        "fs": kind,
        "E": now,
        "T": txn_time,
        "a": {
            "m": reason,
            "B": [
                {"a": a, "wb": fmt8(wb), "cw": fmt8(wb), "bc": fmt8(bc)} for a, wb, bc in wallets
            ],
            "P": [
                {
                    "s": p.symbol,
                    "pa": plain(p.amount),
                    "ep": num8(p.entry_price),
                    "cr": fmt8(p.realized),
                    "up": fmt8(up),
                    "ps": p.side,
                    "bep": num8(p.entry_price),
                }
                for p, up in positions
            ],
        },
    }
    if kind == "CM":
        event["i"] = ""
    return event


def execution_report(
    order: Order, spec: MarginSymbol, *, x: str, fill: Fill | None, now: int, update_id: int
) -> Event:
    f = spec.filters
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt_step(order.quantity, f.step_size),
        "p": fmt_step(order.price, f.tick_size),
        "P": "0.00000000",
        "F": "0.00000000",
        "g": -1,
        "C": order.client_order_id if x == "CANCELED" else "",
        "x": x,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt_step(fill.qty, f.step_size) if fill else "0",
        "z": fmt_step(order.executed_qty, f.step_size),
        "L": fmt_step(fill.price, f.tick_size) if fill else "0",
        "n": fmt8(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": now,
        "t": fill.trade_id if fill else -1,
        "I": update_id,
        "w": order.is_open and not order.executed_qty,
        "m": fill.maker if fill else False,
        "M": False,
        "O": order.time,
        "Z": fmt8(order.cum_quote),
        "Y": fmt8(fill.quote_qty) if fill else "0",
        "Q": fmt8(order.quote_order_qty),
        "W": order.time,
        "V": order.stp,
    }


def outbound_account_position(balances: Iterable[Balance], *, now: int, update_id: int) -> Event:
    return {
        "e": "outboundAccountPosition",
        "E": now,
        "u": now,
        "U": update_id,
        "B": [{"a": b.asset, "f": fmt8(b.free), "l": fmt8(b.locked)} for b in balances],
    }


def balance_update(asset: str, delta: Decimal, *, now: int, update_id: int) -> Event:
    return {"e": "balanceUpdate", "E": now, "a": asset, "d": fmt8(delta), "U": update_id, "T": now}


def liability_change(
    asset: str,
    kind: str,
    tran_id: int,
    principal: Decimal,
    interest: Decimal,
    total: Decimal,
    *,
    now: int,
) -> Event:
    return {
        "e": "liabilityChange",
        "E": now,
        "a": asset,
        "t": kind,
        "T": tran_id,
        "p": fmt8(principal),
        "i": fmt8(interest),
        "l": fmt8(total),
    }


def risk_level_change(
    uni_mmr: str, status: str, equity: Decimal, actual: Decimal, mm: Decimal, *, now: int
) -> Event:
    return {
        "e": "riskLevelChange",
        "E": now,
        "u": uni_mmr,
        "s": status,
        "eq": fmt8(equity),
        "ae": fmt8(actual),
        "m": fmt8(mm),
    }


def listen_key_expired(now: int) -> Event:
    return {"e": "listenKeyExpired", "E": now}


def algo_update(body: Event, *, now: int) -> Event:
    """`body` is the `ao` object built by `algo.py`."""
    return {"e": "ALGO_UPDATE", "fs": "UM", "E": now, "T": now, "ao": body}


def mark_price_update(
    spec: FuturesSymbol,
    mark: Decimal,
    index: Decimal,
    next_funding: int,
    *,
    now: int,
) -> Event:
    perpetual = spec.contract_type == "PERPETUAL"
    return {
        "e": "markPriceUpdate",
        "E": now,
        "s": spec.symbol,
        "p": fmt8(mark),
        "i": fmt8(index),
        "P": fmt8(mark),
        "r": fmt8(spec.funding_rate) if perpetual else "",
        "T": next_funding if perpetual else 0,
    }
