"""Account endpoints' JSON → margin model: balances, positions, open orders, account, modes.

Pure: each function takes the parsed JSON (orjson output) of one endpoint (binance-pm.md §2.2,
§2.3, §2.6, §1.7) and returns model values; a malformed field raises `CodecError` naming it.
Market-wide data (exchangeInfo, brackets, collateral, prices) is in `codec_market.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import cast

from margin_gate.margin.model import Balance
from margin_gate.margin.model import Commission
from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import Market
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import Position
from margin_gate.margin.model import PositionSide
from margin_gate.margin.model import Side
from margin_gate.margin.model import SideEffect
from margin_gate.state.numbers import CodecError
from margin_gate.state.numbers import dec
from margin_gate.state.numbers import dec_or_none
from margin_gate.state.numbers import int_or_zero

__all__ = [
    "ExchangeAccount",
    "PositionRow",
    "market_of",
    "open_order_key",
    "parse_account",
    "parse_algo_open_orders",
    "parse_balances",
    "parse_commission",
    "parse_conditional_open_orders",
    "parse_dual_side",
    "parse_futures_open_orders",
    "parse_margin_open_orders",
    "parse_positions",
]

_SIDES = ("BUY", "SELL")
_POSITION_SIDES = ("BOTH", "LONG", "SHORT")
_SIDE_EFFECTS = ("NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY")


@dataclass(frozen=True, slots=True)
class ExchangeAccount:
    """`GET /papi/v1/account` (§1.7): the exchange's own risk numbers."""

    uni_mmr: Decimal | None  # None when the exchange reports no maintenance margin
    account_equity: Decimal
    actual_equity: Decimal
    maint_margin: Decimal
    status: str
    open_loss_usd: Decimal
    update_time: int


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One positionRisk row: the position, its `updateTime` and the mark it was valued at."""

    position: Position
    update_time: int
    mark: Decimal | None


def _obj(item: object, where: str) -> Mapping[str, Any]:
    if not isinstance(item, dict):
        raise CodecError(f"{where}: expected an object")
    return cast(Mapping[str, Any], item)


def _list(raw: object, where: str) -> list[Any]:
    if isinstance(raw, dict):  # a single-symbol/asset query answers an object (§2.2)
        return [raw]
    if not isinstance(raw, list):
        raise CodecError(f"{where}: expected a list")
    return raw


def _str(o: Mapping[str, Any], key: str, where: str) -> str:
    value = o.get(key)
    if not isinstance(value, str) or not value:
        raise CodecError(f"{where}.{key}: expected a string")
    return value


def _choice(value: object, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise CodecError(f"{where}: unexpected value {value!r}")
    return str(value)


def _num(o: Mapping[str, Any], key: str, where: str, default: str | None = None) -> Decimal:
    if key not in o and default is not None:
        return Decimal(default)
    return dec(o.get(key), f"{where}.{key}")


def parse_balances(raw: object) -> tuple[dict[str, Balance], dict[str, int]]:
    """`GET /papi/v1/balance` → balances by asset and their `updateTime` (§2.2).

    `crossMarginAsset` is free + locked (the paper exchange and Binance agree); `negativeBalance`
    is not a separate wallet here: it shows up as a negative UM/CM wallet balance already.
    """
    balances: dict[str, Balance] = {}
    times: dict[str, int] = {}
    for i, item in enumerate(_list(raw, "balance")):
        w = f"balance[{i}]"
        o = _obj(item, w)
        asset = _str(o, "asset", w)
        balances[asset] = Balance(
            asset=asset,
            cross_margin_asset=_num(o, "crossMarginAsset", w, "0"),
            cross_margin_borrowed=_num(o, "crossMarginBorrowed", w, "0"),
            cross_margin_interest=_num(o, "crossMarginInterest", w, "0"),
            um_wallet=_num(o, "umWalletBalance", w, "0"),
            cm_wallet=_num(o, "cmWalletBalance", w, "0"),
            cross_margin_locked=_num(o, "crossMarginLocked", w, "0"),
        )
        times[asset] = int_or_zero(o.get("updateTime"))
    return balances, times


def parse_positions(raw: object, market: FuturesMarket) -> list[PositionRow]:
    """`GET /papi/v1/{um,cm}/positionRisk` → rows; zero positions are kept (their updateTime
    still says how fresh the row is)."""
    rows = []
    for i, item in enumerate(_list(raw, f"{market} positionRisk")):
        w = f"{market} positionRisk[{i}]"
        o = _obj(item, w)
        amount = _num(o, "positionAmt", w)
        side = cast(PositionSide, _choice(o.get("positionSide", "BOTH"), _POSITION_SIDES, w))
        position = Position(
            symbol=_str(o, "symbol", w),
            market=market,
            position_side=side,
            amount=amount,
            entry_price=_num(o, "entryPrice", w, "0"),
        )
        mark = dec_or_none(o.get("markPrice"), f"{w}.markPrice")
        rows.append(PositionRow(position, int_or_zero(o.get("updateTime")), mark))
    return rows


def open_order_key(order: OpenOrder) -> str:
    """The key resting orders have in the engine's pending book: `market:symbol:orderId`."""
    return f"{order.market}:{order.symbol}:{order.order_id}"


def _remaining(o: Mapping[str, Any], w: str, qty_key: str, done_key: str) -> Decimal | None:
    qty = dec_or_none(o.get(qty_key), f"{w}.{qty_key}")
    if qty is None:
        return None
    done = dec_or_none(o.get(done_key), f"{w}.{done_key}") or Decimal(0)
    return max(qty - done, Decimal(0))


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value != 0 else None


def parse_futures_open_orders(raw: object, market: FuturesMarket) -> list[OpenOrder]:
    """`GET /papi/v1/{um,cm}/openOrders` (§2.6). `closePosition` orders have no quantity."""
    orders = []
    for i, item in enumerate(_list(raw, f"{market} openOrders")):
        w = f"{market} openOrders[{i}]"
        o = _obj(item, w)
        close = o.get("closePosition") is True
        orders.append(
            OpenOrder(
                market=market,
                symbol=_str(o, "symbol", w),
                order_id=str(o.get("orderId")),
                side=cast(Side, _choice(o.get("side"), _SIDES, f"{w}.side")),
                order_type=_str(o, "type", w),
                quantity=None if close else _remaining(o, w, "origQty", "executedQty"),
                price=_positive(dec_or_none(o.get("price"), f"{w}.price")),
                stop_price=_positive(dec_or_none(o.get("stopPrice"), f"{w}.stopPrice")),
                position_side=cast(
                    PositionSide,
                    _choice(o.get("positionSide", "BOTH"), _POSITION_SIDES, f"{w}.positionSide"),
                ),
                reduce_only=o.get("reduceOnly") is True or close,
                client_order_id=o.get("clientOrderId") or None,
                activation_price=_positive(dec_or_none(o.get("activatePrice"), f"{w}.ap")),
                callback_rate=_positive(dec_or_none(o.get("priceRate"), f"{w}.priceRate")),
                price_match=o.get("priceMatch") not in (None, "", "NONE"),
            )
        )
    return orders


def parse_conditional_open_orders(raw: object, market: FuturesMarket) -> list[OpenOrder]:
    """`GET /papi/v1/{um,cm}/conditional/openOrders` (legacy conditional, §2.3): keyed
    `cond:<strategyId>`, typed by `strategyType`."""
    orders = []
    for i, item in enumerate(_list(raw, f"{market} conditional openOrders")):
        w = f"{market} conditional[{i}]"
        o = _obj(item, w)
        orders.append(
            OpenOrder(
                market=market,
                symbol=_str(o, "symbol", w),
                order_id=f"cond:{o.get('strategyId')}",
                side=cast(Side, _choice(o.get("side"), _SIDES, f"{w}.side")),
                order_type=_str(o, "strategyType", w),
                quantity=dec_or_none(o.get("origQty"), f"{w}.origQty"),
                price=_positive(dec_or_none(o.get("price"), f"{w}.price")),
                stop_price=_positive(dec_or_none(o.get("stopPrice"), f"{w}.stopPrice")),
                position_side=cast(
                    PositionSide,
                    _choice(o.get("positionSide", "BOTH"), _POSITION_SIDES, f"{w}.positionSide"),
                ),
                reduce_only=o.get("reduceOnly") is True,
                client_order_id=o.get("newClientStrategyId") or None,
                activation_price=_positive(dec_or_none(o.get("activatePrice"), f"{w}.ap")),
                callback_rate=_positive(dec_or_none(o.get("priceRate"), f"{w}.priceRate")),
            )
        )
    return orders


def parse_algo_open_orders(raw: object) -> list[OpenOrder]:
    """`GET /papi/v1/um/algo/openAlgoOrders` (§2.3): keyed `algo:<algoId>`. The answer may be
    a list or `{"orders": [...]}`."""
    if isinstance(raw, dict) and "orders" in raw:
        raw = raw["orders"]
    orders = []
    for i, item in enumerate(_list(raw, "algo openOrders")):
        w = f"algo[{i}]"
        o = _obj(item, w)
        orders.append(
            OpenOrder(
                market="UM",
                symbol=_str(o, "symbol", w),
                order_id=f"algo:{o.get('algoId')}",
                side=cast(Side, _choice(o.get("side"), _SIDES, f"{w}.side")),
                order_type=_str(o, "orderType", w),
                quantity=dec_or_none(o.get("quantity"), f"{w}.quantity"),
                price=_positive(dec_or_none(o.get("price"), f"{w}.price")),
                stop_price=_positive(dec_or_none(o.get("triggerPrice"), f"{w}.triggerPrice")),
                position_side=cast(
                    PositionSide,
                    _choice(o.get("positionSide", "BOTH"), _POSITION_SIDES, f"{w}.positionSide"),
                ),
                reduce_only=o.get("reduceOnly") is True or o.get("closePosition") is True,
                client_order_id=o.get("clientAlgoId") or None,
                activation_price=_positive(dec_or_none(o.get("activatePrice"), f"{w}.ap")),
                callback_rate=_positive(dec_or_none(o.get("callbackRate"), f"{w}.callbackRate")),
                price_match=o.get("priceMatch") not in (None, "", "NONE"),
            )
        )
    return orders


def parse_margin_open_orders(raw: object) -> list[OpenOrder]:
    """`GET /papi/v1/margin/openOrders` (spot-style order objects, §2.3)."""
    orders = []
    for i, item in enumerate(_list(raw, "margin openOrders")):
        w = f"margin openOrders[{i}]"
        o = _obj(item, w)
        effect = o.get("sideEffectType", "NO_SIDE_EFFECT") or "NO_SIDE_EFFECT"
        orders.append(
            OpenOrder(
                market="MARGIN",
                symbol=_str(o, "symbol", w),
                order_id=str(o.get("orderId")),
                side=cast(Side, _choice(o.get("side"), _SIDES, f"{w}.side")),
                order_type=_str(o, "type", w),
                quantity=_remaining(o, w, "origQty", "executedQty"),
                price=_positive(dec_or_none(o.get("price"), f"{w}.price")),
                stop_price=_positive(dec_or_none(o.get("stopPrice"), f"{w}.stopPrice")),
                client_order_id=o.get("clientOrderId") or None,
                side_effect=cast(SideEffect, _choice(effect, _SIDE_EFFECTS, f"{w}.sideEffect")),
            )
        )
    return orders


def parse_account(raw: object) -> ExchangeAccount:
    """`GET /papi/v1/account` (§1.7). A uniMMR the exchange prints as a huge sentinel or 0
    with no maintenance margin reads as None (no MM: nothing to compare)."""
    o = _obj(raw, "account")
    mm = _num(o, "accountMaintMargin", "account", "0")
    uni = dec_or_none(o.get("uniMMR"), "account.uniMMR")
    return ExchangeAccount(
        uni_mmr=uni if mm > 0 else None,
        account_equity=_num(o, "accountEquity", "account", "0"),
        actual_equity=_num(o, "actualEquity", "account", "0"),
        maint_margin=mm,
        status=str(o.get("accountStatus") or "UNKNOWN"),
        open_loss_usd=_num(o, "totalMarginOpenLoss", "account", "0"),
        update_time=int_or_zero(o.get("updateTime")),
    )


def parse_commission(raw: object) -> tuple[str, Commission]:
    """`GET /papi/v1/um/commissionRate?symbol=` → (symbol, maker/taker fractions)."""
    o = _obj(raw, "commissionRate")
    return _str(o, "symbol", "commissionRate"), Commission(
        maker=_num(o, "makerCommissionRate", "commissionRate"),
        taker=_num(o, "takerCommissionRate", "commissionRate"),
    )


def parse_dual_side(raw: object) -> bool:
    """`GET /papi/v1/{um,cm}/positionSide/dual` → hedge mode on/off."""
    o = _obj(raw, "positionSide/dual")
    value = o.get("dualSidePosition")
    if not isinstance(value, bool):
        raise CodecError("positionSide/dual.dualSidePosition: expected a bool")
    return value


def market_of(text: object) -> Market:
    """`fs` of a futures event or an explicit market tag."""
    return cast(Market, _choice(text, ("UM", "CM", "MARGIN"), "market"))
