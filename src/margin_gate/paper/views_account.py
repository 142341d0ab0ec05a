"""Account JSON: account, balance, positionRisk, brackets, commission, max borrowable.

Shapes from binance-pm.md §1.7, §2.2 and the official PM SDK's response models; numbers are
strings with 8 decimals except bracket tables, which Binance prints as bare numbers.
Approximations (documented): `accountInitialMargin` counts futures only (notional / leverage),
`liquidationPrice` is "0" (PM liquidates at account level), open loss is always 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from margin_gate.paper.futures import unrealized
from margin_gate.paper.ledger import Position
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import floor_to
from margin_gate.paper.numbers import fmt8
from margin_gate.paper.numbers import fmt_step
from margin_gate.paper.numbers import json_number
from margin_gate.paper.numbers import num8
from margin_gate.paper.numbers import plain
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import PositionSide
from margin_gate.paper.unimmr import cm_coin_notional
from margin_gate.paper.unimmr import maint_margin

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = [
    "account_info",
    "balances",
    "brackets",
    "cm_position_risk",
    "commission_rate",
    "max_borrowable",
    "pm_pro_account",
    "um_account",
    "um_position_risk",
]

Json = dict[str, Any]
_ZERO8 = "0.00000000"


def account_info(ex: PaperExchange) -> Json:
    """GET /papi/v1/account."""
    snap = ex.risk()
    available = max(snap.account_equity - snap.initial_margin, ZERO)
    return {
        "uniMMR": ex.uni_mmr_text(),
        "accountEquity": fmt8(snap.account_equity),
        "actualEquity": fmt8(snap.actual_equity),
        "accountInitialMargin": fmt8(snap.initial_margin),
        "accountMaintMargin": fmt8(snap.maint_margin),
        "accountStatus": ex.status,
        "virtualMaxWithdrawAmount": fmt8(available),
        "totalAvailableBalance": fmt8(available),
        "totalMarginOpenLoss": _ZERO8,
        "updateTime": ex.ledger.update_time,
    }


def pm_pro_account(ex: PaperExchange) -> Json:
    """GET /sapi/v1/portfolio/account (PM Pro shape, §2.7)."""
    snap = ex.risk()
    return {
        "uniMMR": ex.uni_mmr_text(),
        "accountEquity": fmt8(snap.account_equity),
        "actualEquity": fmt8(snap.actual_equity),
        "accountMaintMargin": fmt8(snap.maint_margin),
        "accountInitialMargin": fmt8(snap.initial_margin),
        "totalAvailableBalance": fmt8(max(snap.account_equity - snap.initial_margin, ZERO)),
        "accountStatus": ex.status,
        "accountType": ex.state.account.account_type,
    }


def balances(ex: PaperExchange, asset: str | None) -> Json | list[Json]:
    """GET /papi/v1/balance: a list, or one object when `asset` is sent."""
    snap = ex.risk()
    rows = []
    for bal in ex.ledger.balances.values():
        if asset is not None and bal.asset != asset:
            continue
        risk = snap.assets.get(bal.asset)
        rows.append(
            {
                "asset": bal.asset,
                "totalWalletBalance": fmt8(bal.cross_margin_asset + bal.um_wallet + bal.cm_wallet),
                "crossMarginAsset": fmt8(bal.cross_margin_asset),
                "crossMarginBorrowed": fmt8(bal.borrowed),
                "crossMarginFree": fmt8(bal.free),
                "crossMarginInterest": fmt8(bal.interest),
                "crossMarginLocked": fmt8(bal.locked),
                "umWalletBalance": fmt8(bal.um_wallet),
                "umUnrealizedPNL": fmt8(risk.um_pnl if risk else ZERO),
                "cmWalletBalance": fmt8(bal.cm_wallet),
                "cmUnrealizedPNL": fmt8(risk.cm_pnl if risk else ZERO),
                "updateTime": ex.ledger.update_time,
                "negativeBalance": _ZERO8,
            }
        )
    if asset is not None:
        return rows[0] if rows else {"asset": asset, **_empty_balance(ex)}
    return rows


def _empty_balance(ex: PaperExchange) -> Json:
    keys = (
        "totalWalletBalance",
        "crossMarginAsset",
        "crossMarginBorrowed",
        "crossMarginFree",
        "crossMarginInterest",
        "crossMarginLocked",
        "umWalletBalance",
        "umUnrealizedPNL",
        "cmWalletBalance",
        "cmUnrealizedPNL",
    )
    return {
        **dict.fromkeys(keys, _ZERO8),
        "updateTime": ex.ledger.update_time,
        "negativeBalance": _ZERO8,
    }


def _leverage(ex: PaperExchange, spec: FuturesSymbol) -> int:
    default = min(20, max(b.initial_leverage for b in spec.brackets))
    return ex.ledger.leverage.get(spec.symbol, default)


def max_cap(spec: FuturesSymbol, leverage: int) -> Decimal:
    """The largest bracket cap whose initial leverage still allows `leverage`."""
    caps = [b.cap for b in spec.brackets if b.initial_leverage >= leverage]
    return max(caps) if caps else spec.brackets[0].cap


def _legs(ex: PaperExchange, spec: FuturesSymbol, symbol_given: bool) -> list[Position]:
    legs = [p for p in ex.ledger.legs(spec.kind, spec.symbol) if p.amount != 0]
    if legs or not symbol_given:
        return legs
    sides: tuple[PositionSide, ...] = ("LONG", "SHORT") if ex.ledger.dual_side else ("BOTH",)
    return [Position(spec.kind, spec.symbol, side) for side in sides]


def um_position_risk(ex: PaperExchange, symbol: str | None) -> list[Json]:
    rows = []
    for spec in ex.state.um_symbols.values():
        if symbol is not None and spec.symbol != symbol:
            continue
        mark = ex.ledger.mark[spec.symbol]
        lev = _leverage(ex, spec)
        for pos in _legs(ex, spec, symbol is not None):
            rows.append(
                {
                    "entryPrice": num8(pos.entry_price),
                    "leverage": str(lev),
                    "markPrice": fmt8(mark),
                    "maxNotionalValue": plain(max_cap(spec, lev)),
                    "positionAmt": fmt_step(pos.amount, spec.filters.step_size),
                    "notional": fmt8(pos.amount * mark),
                    "symbol": spec.symbol,
                    "unRealizedProfit": fmt8(unrealized(ex, pos)),
                    "liquidationPrice": "0",
                    "positionSide": pos.side,
                    "updateTime": pos.update_time,
                }
            )
    return rows


def cm_position_risk(ex: PaperExchange, margin_asset: str | None, pair: str | None) -> list[Json]:
    rows = []
    for spec in ex.state.cm_symbols.values():
        if (margin_asset and spec.margin_asset != margin_asset) or (pair and spec.pair != pair):
            continue
        mark = ex.ledger.mark[spec.symbol]
        lev = _leverage(ex, spec)
        for pos in _legs(ex, spec, False):
            coin = cm_coin_notional(pos.amount, spec.contract_size, mark)
            rows.append(
                {
                    "symbol": spec.symbol,
                    "positionAmt": fmt_step(pos.amount, spec.filters.step_size),
                    "entryPrice": num8(pos.entry_price),
                    "markPrice": fmt8(mark),
                    "unRealizedProfit": fmt8(unrealized(ex, pos)),
                    "liquidationPrice": "0",
                    "leverage": str(lev),
                    "positionSide": pos.side,
                    "updateTime": pos.update_time,
                    "maxQty": plain(max_cap(spec, lev)),
                    "notionalValue": fmt8(coin if pos.amount > 0 else -coin),
                }
            )
    return rows


def brackets(ex: PaperExchange, kind: str, symbol: str | None) -> list[Json]:
    """GET /papi/v1/{um,cm}/leverageBracket (bracket numbers are bare JSON numbers)."""
    table = ex.state.um_symbols if kind == "UM" else ex.state.cm_symbols
    cap_key, floor_key = (
        ("notionalCap", "notionalFloor") if kind == "UM" else ("qtyCap", "qtyFloor")
    )
    return [
        {
            "symbol": spec.symbol,
            "brackets": [
                {
                    "bracket": b.bracket,
                    "initialLeverage": b.initial_leverage,
                    cap_key: json_number(b.cap),
                    floor_key: json_number(b.floor),
                    "maintMarginRatio": json_number(b.mmr),
                    "cum": json_number(b.cum),
                }
                for b in spec.brackets
            ],
        }
        for spec in table.values()
        if symbol is None or spec.symbol == symbol
    ]


def commission_rate(spec: FuturesSymbol) -> Json:
    return {
        "symbol": spec.symbol,
        "makerCommissionRate": plain(spec.maker),
        "takerCommissionRate": plain(spec.taker),
    }


def um_account(ex: PaperExchange) -> Json:
    """GET /papi/v1/um/account: per-asset and per-position margin detail."""
    snap = ex.risk()
    assets = []
    for bal in ex.ledger.balances.values():
        risk = snap.assets.get(bal.asset)
        if not bal.um_wallet and not (risk and risk.um_pnl):
            continue
        assets.append(
            {
                "asset": bal.asset,
                "crossWalletBalance": fmt8(bal.um_wallet),
                "crossUnPnl": fmt8(risk.um_pnl if risk else ZERO),
                "maintMargin": fmt8(risk.futures_mm if risk else ZERO),
                "initialMargin": _ZERO8,
                "positionInitialMargin": _ZERO8,
                "openOrderInitialMargin": _ZERO8,
                "updateTime": ex.ledger.update_time,
            }
        )
    positions = []
    for pos in ex.ledger.open_positions("UM"):
        spec = ex.state.um_symbols[pos.symbol]
        mark = ex.ledger.mark[pos.symbol]
        lev = _leverage(ex, spec)
        notional = abs(pos.amount) * mark
        positions.append(
            {
                "symbol": pos.symbol,
                "initialMargin": fmt8(notional / lev),
                "maintMargin": fmt8(maint_margin(spec.brackets, notional)),
                "unrealizedProfit": fmt8(unrealized(ex, pos)),
                "positionInitialMargin": fmt8(notional / lev),
                "openOrderInitialMargin": _ZERO8,
                "leverage": str(lev),
                "entryPrice": num8(pos.entry_price),
                "maxNotional": plain(max_cap(spec, lev)),
                "bidNotional": "0",
                "askNotional": "0",
                "positionSide": pos.side,
                "positionAmt": fmt_step(pos.amount, spec.filters.step_size),
                "updateTime": pos.update_time,
            }
        )
    return {"assets": assets, "positions": positions}


def max_borrowable(ex: PaperExchange, asset: str) -> Json:
    """How much more `asset` could be borrowed before uniMMR reaches the reduce-only level."""
    snap = ex.risk()
    price = ex.ledger.asset_index.get(asset)
    amount = ZERO
    if price and ex.status not in ("REDUCE_ONLY", "FORCE_LIQUIDATION", "BANKRUPTED"):
        rate = ex.state.loan_mmr.get(asset, ex.state.default_loan_mmr)
        room = snap.account_equity / ex.state.risk.reduce_only - snap.maint_margin
        if room > 0 and rate > 0:
            amount = floor_to(room / (rate * price), Decimal("0.00000001"))
    return {"amount": fmt8(amount), "borrowLimit": fmt8(amount)}
