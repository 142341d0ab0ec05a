"""UM and CM futures orders: parameters, filters, position-mode rules, matching, cancel, modify.

Matching model (docs/paper-exchange.md "Matching"): a taker fills at mark ± spread (rounded to
the tick, away from the mark); a marketable LIMIT fills at that price (it is never worse than the
limit); other LIMIT orders rest and fill at their own price, as maker, when a price move makes
them marketable. Every fill streams ORDER_TRADE_UPDATE then ACCOUNT_UPDATE with the same `T`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from margin_gate.paper import errors
from margin_gate.paper import events
from margin_gate.paper.fills import apply_futures_fill
from margin_gate.paper.ledger import Position
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import parse_decimal
from margin_gate.paper.orders import SIDES
from margin_gate.paper.orders import Fill
from margin_gate.paper.orders import Order
from margin_gate.paper.orders import Side
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import Kind
from margin_gate.paper.schema import PositionSide
from margin_gate.paper.unimmr import cm_unrealized
from margin_gate.paper.unimmr import um_unrealized
from margin_gate.wire.errors import BAD_PRECISION
from margin_gate.wire.errors import BAD_SYMBOL
from margin_gate.wire.errors import BinanceError

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = [
    "FuturesRequest",
    "cancel",
    "cancel_all",
    "fill",
    "find",
    "match_resting",
    "modify",
    "parse_request",
    "place",
    "place_request",
]

CONDITIONAL_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
_TIFS = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_BAD_CLIENT_ID = BinanceError(-4015, "Client order id is not valid.")
_REDUCE_ONLY_STATUSES = frozenset({"REDUCE_ONLY", "BANKRUPTED"})
_POSITION_SIDES: dict[str, PositionSide] = {"BOTH": "BOTH", "LONG": "LONG", "SHORT": "SHORT"}


@dataclass(frozen=True, slots=True)
class FuturesRequest:
    spec: FuturesSymbol
    side: Side
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    position_side: PositionSide
    reduce_only: bool
    client_id: str
    good_till_date: int
    stp: str
    order_type_label: str = ""  # LIQUIDATION for liquidation orders


def _flag(value: str | None) -> bool | None:
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return None


def _symbol_side_type(
    ex: PaperExchange, kind: Kind, p: Mapping[str, str]
) -> tuple[FuturesSymbol, Side, str] | BinanceError:
    symbol = p.get("symbol")
    if not symbol:
        return errors.missing("symbol")
    table = ex.state.um_symbols if kind == "UM" else ex.state.cm_symbols
    spec = table.get(symbol)
    if spec is None:
        return BAD_SYMBOL
    raw_side = p.get("side")
    side = SIDES.get(raw_side or "")
    if side is None:
        return errors.missing("side") if not raw_side else errors.BAD_SIDE
    order_type = p.get("type")
    if not order_type:
        return errors.missing("type")
    if order_type in CONDITIONAL_TYPES:
        return errors.STOP_ORDER_SWITCH_ALGO
    if order_type not in ("LIMIT", "MARKET"):
        return errors.BAD_ORDER_TYPE
    return spec, side, order_type


def _price_tif(order_type: str, p: Mapping[str, str]) -> tuple[Decimal, str, int] | BinanceError:
    if order_type != "LIMIT":
        return ZERO, "GTC", 0
    price = parse_decimal(p.get("price"))
    if price is None:
        return errors.missing("price")
    tif = p.get("timeInForce") or ""
    if not tif:
        return errors.missing("timeInForce")
    if tif not in _TIFS:
        return errors.BAD_TIF
    gtd = 0
    if tif == "GTD":
        parsed_gtd = parse_decimal(p.get("goodTillDate"))
        if parsed_gtd is None:
            return errors.missing("goodTillDate")
        gtd = int(parsed_gtd)
    return price, tif, gtd


def _position_flags(
    ex: PaperExchange, p: Mapping[str, str]
) -> tuple[PositionSide, bool] | BinanceError:
    position_side = p.get("positionSide") or "BOTH"
    if position_side not in _POSITION_SIDES or (position_side == "BOTH") == ex.ledger.dual_side:
        return errors.POSITION_SIDE_MISMATCH
    reduce_only = _flag(p.get("reduceOnly"))
    if reduce_only is None:
        return BinanceError(-4062, "Invalid reduceOnly value.")
    if reduce_only and ex.ledger.dual_side:
        return errors.REDUCE_ONLY_NOT_REQUIRED
    return _POSITION_SIDES[position_side], reduce_only


def _client_id(ex: PaperExchange, kind: Kind, p: Mapping[str, str]) -> str | BinanceError:
    client_id = p.get("newClientOrderId") or ""
    if not client_id:
        return ex.book.new_client_id()
    if not _CLIENT_ID.match(client_id):
        return _BAD_CLIENT_ID
    if ex.book.client_id_in_use(kind, client_id):
        return errors.DUPLICATE_CLIENT_ID
    return client_id


def parse_request(
    ex: PaperExchange, kind: Kind, p: Mapping[str, str]
) -> FuturesRequest | BinanceError:
    basics = _symbol_side_type(ex, kind, p)
    if isinstance(basics, BinanceError):
        return basics
    spec, side, order_type = basics
    qty = parse_decimal(p.get("quantity"))
    if qty is None:
        return errors.missing("quantity")
    priced = _price_tif(order_type, p)
    if isinstance(priced, BinanceError):
        return priced
    flags = _position_flags(ex, p)
    if isinstance(flags, BinanceError):
        return flags
    client_id = _client_id(ex, kind, p)
    if isinstance(client_id, BinanceError):
        return client_id
    price, tif, gtd = priced
    position_side, reduce_only = flags
    return FuturesRequest(
        spec=spec,
        side=side,
        type=order_type,
        time_in_force=tif,
        quantity=qty,
        price=price,
        position_side=position_side,
        reduce_only=reduce_only,
        client_id=client_id,
        good_till_date=gtd,
        stp=p.get("selfTradePreventionMode") or "NONE",
    )


def _on_step(value: Decimal, origin: Decimal, step: Decimal) -> bool:
    return step <= 0 or (value - origin) % step == 0


def _check_qty(req: FuturesRequest) -> BinanceError | None:
    f = req.spec.filters
    qty = req.quantity
    if qty <= 0:
        return BinanceError(-4003, "Quantity less than or equal to zero.")
    if qty < f.min_qty:
        return BinanceError(-4004, "Quantity less than min quantity.")
    if f.max_qty and qty > f.max_qty:
        return BinanceError(-4005, "Quantity greater than max quantity.")
    if not _on_step(qty, f.min_qty, f.step_size):
        return BAD_PRECISION
    return None


def _check_price(req: FuturesRequest, mark: Decimal) -> BinanceError | None:
    f = req.spec.filters
    price = req.price
    if price <= 0:
        return BinanceError(-4001, "Price less than 0.")
    if f.min_price and price < f.min_price:
        return BinanceError(-4013, "Price less than min price.")
    if f.max_price and price > f.max_price:
        return BinanceError(-4002, "Price greater than max price.")
    if not _on_step(price, f.min_price, f.tick_size):
        return BinanceError(-4014, "Price not increased by tick size.")
    if f.multiplier_up and req.side == "BUY" and price > mark * f.multiplier_up:
        return BinanceError(-4016, f"Limit price can't be higher than {mark * f.multiplier_up}.")
    if f.multiplier_down and req.side == "SELL" and price < mark * f.multiplier_down:
        return BinanceError(-4024, f"Limit price can't be lower than {mark * f.multiplier_down}.")
    return None


def check_filters(ex: PaperExchange, req: FuturesRequest) -> BinanceError | None:
    """LOT_SIZE, PRICE_FILTER, PERCENT_PRICE and MIN_NOTIONAL (binance-pm.md §5.1)."""
    problem = _check_qty(req)
    if problem is not None:
        return problem
    mark = ex.ledger.mark[req.spec.symbol]
    if req.type == "LIMIT":
        problem = _check_price(req, mark)
        if problem is not None:
            return problem
    f = req.spec.filters
    if req.type == "MARKET" and f.market_take_bound and ex.state.spread > f.market_take_bound:
        # a taker would fill further from the mark than marketTakeBound allows (§5.1)
        return BinanceError(
            -4131,
            "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
        )
    if req.spec.kind == "UM" and f.min_notional and not req.reduce_only:
        reference = req.price if req.type == "LIMIT" else mark
        if req.quantity * reference < f.min_notional:
            return errors.min_notional(f.min_notional)
    return None


def _closes(dual: bool, side: Side, position_side: str, pos: Position, qty: Decimal) -> bool:
    """Whether an order only reduces the leg it trades (hedge: closing side; one-way: opposite
    sign and no bigger than the position)."""
    if dual:
        return (position_side == "LONG") == (side == "SELL")
    if pos.amount == 0 or (pos.amount > 0) == (side == "BUY"):
        return False
    return qty <= abs(pos.amount)


def _reduce_cap(dual: bool, side: Side, pos: Position, req_reduce: bool) -> Decimal | None:
    """Most a reduce-only / closing order may fill now (None: no cap)."""
    if dual:
        return abs(pos.amount)
    if not req_reduce:
        return None
    if pos.amount == 0 or (pos.amount > 0) == (side == "BUY"):
        return ZERO
    return abs(pos.amount)


def _marketable(ex: PaperExchange, order: Order, spec: FuturesSymbol) -> Decimal | None:
    """The taker price if `order` would execute now, else None."""
    buy = order.side == "BUY"
    price = ex.taker_price(spec, buy)
    if order.type != "LIMIT":
        return price
    if (buy and order.price >= price) or (not buy and order.price <= price):
        return price
    return None


def place(ex: PaperExchange, kind: Kind, p: Mapping[str, str]) -> Order | BinanceError:
    gate = ex.trading_gate()
    if gate is not None:
        return gate
    req = parse_request(ex, kind, p)
    if isinstance(req, BinanceError):
        return req
    return place_request(ex, req)


def _time_in_force_rules(
    ex: PaperExchange, req: FuturesRequest, price: Decimal | None, fill_qty: Decimal
) -> BinanceError | None:
    """GTX that would take, FOK that cannot fill whole, and the open-order limit."""
    if price is not None and req.time_in_force == "GTX":
        return errors.GTX_REJECT
    if req.time_in_force == "FOK" and (price is None or fill_qty < req.quantity):
        return errors.FOK_REJECT
    if price is None and req.time_in_force != "IOC":
        limit = req.spec.filters.max_num_orders
        if limit and ex.book.count_open(req.spec.kind, req.spec.symbol) >= limit:
            return BinanceError(-2025, "Reach max open order limit.")
    return None


def place_request(ex: PaperExchange, req: FuturesRequest) -> Order | BinanceError:
    spec = req.spec
    kind = spec.kind
    liquidation = req.order_type_label == "LIQUIDATION"
    problem = None if liquidation else check_filters(ex, req)
    if problem is not None:
        return problem
    dual = ex.ledger.dual_side
    pos = ex.ledger.position(kind, spec.symbol, req.position_side)
    closing = _closes(dual, req.side, req.position_side, pos, req.quantity)
    if req.reduce_only and not closing and _reduce_cap(dual, req.side, pos, True) == 0:
        return errors.REDUCE_ONLY_REJECT
    if dual and closing and req.quantity > abs(pos.amount):
        return errors.REDUCE_ONLY_REJECT
    reducing = closing or req.reduce_only
    if ex.status in _REDUCE_ONLY_STATUSES and not reducing and not liquidation:
        code = (
            ex.state.risk.um_reduce_only_code if kind == "UM" else ex.state.risk.cm_reduce_only_code
        )
        return errors.reduce_only_mode(code, ex.state.risk.reduce_only)
    now = ex.now()
    order = Order(
        venue=kind,
        order_id=ex.book.next_order_id(),
        client_order_id=req.client_id,
        symbol=spec.symbol,
        side=req.side,
        type=req.order_type_label or req.type,
        time_in_force=req.time_in_force,
        quantity=req.quantity,
        price=req.price,
        time=now,
        position_side=req.position_side,
        reduce_only=req.reduce_only,
        good_till_date=req.good_till_date,
        stp=req.stp,
    )
    price = _marketable(ex, order, spec)
    cap = _reduce_cap(dual, req.side, pos, req.reduce_only) if reducing else None
    fill_qty = req.quantity if cap is None else min(req.quantity, cap)
    refusal = _time_in_force_rules(ex, req, price, fill_qty)
    if refusal is not None:
        return refusal
    ex.book.add(order)
    ex.emit(events.order_trade_update, order, spec, x="NEW", fill=None, now=now)
    if price is not None:
        if fill_qty > 0:
            fill(ex, order, fill_qty, price, maker=False)
        if order.remaining > 0:
            _finish(ex, order, spec, "EXPIRED")
    elif req.time_in_force == "IOC":
        _finish(ex, order, spec, "EXPIRED")
    ex.after_change()
    return order


def _finish(ex: PaperExchange, order: Order, spec: FuturesSymbol, status: str) -> None:
    order.status = status
    order.update_time = ex.now()
    ex.book.closed(order)
    ex.emit(events.order_trade_update, order, spec, x=status, fill=None, now=order.update_time)


def unrealized(ex: PaperExchange, pos: Position) -> Decimal:
    mark = ex.ledger.mark[pos.symbol]
    if pos.kind == "UM":
        return um_unrealized(pos, mark)
    return cm_unrealized(pos, mark, ex.state.cm_symbols[pos.symbol].contract_size)


def fill(ex: PaperExchange, order: Order, qty: Decimal, price: Decimal, *, maker: bool) -> Fill:
    """Execute `qty` of `order` at `price` and stream the trade and the account change."""
    spec = ex.state.futures_symbol(order.symbol)
    assert spec is not None
    kind = spec.kind
    pos = ex.ledger.position(kind, order.symbol, _POSITION_SIDES[order.position_side])
    now = ex.now()
    rate = spec.maker if maker else spec.taker
    result = apply_futures_fill(ex.ledger, spec, pos, order.side == "BUY", qty, price, rate, now)
    trade = Fill(
        price=price,
        qty=qty,
        commission=result.fee,
        commission_asset=result.fee_asset,
        trade_id=ex.book.next_trade_id(),
        maker=maker,
        realized=result.realized,
        quote_qty=qty * price if kind == "UM" else qty * spec.contract_size / price,
    )
    order.fills.append(trade)
    order.executed_qty += qty
    order.cum_quote += trade.quote_qty
    order.update_time = now
    order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
    if not order.is_open:
        ex.book.closed(order)
    x = "CALCULATED" if order.type == "LIQUIDATION" else "TRADE"
    ex.emit(events.order_trade_update, order, spec, x=x, fill=trade, now=now)
    bal = ex.ledger.balance(spec.margin_asset)
    wallet = bal.um_wallet if kind == "UM" else bal.cm_wallet
    ex.emit(
        events.account_update,
        kind,
        "ORDER",
        [(spec.margin_asset, wallet, ZERO)],
        [(pos, unrealized(ex, pos))],
        now=now,
        txn_time=now,
    )
    return trade


def match_resting(ex: PaperExchange, symbols: Collection[str]) -> None:
    """Fill resting LIMIT orders the new prices cross, at their own price, as maker."""
    if not symbols:
        return
    dual = ex.ledger.dual_side
    for order in list(ex.book.open.values()):
        if order.venue == "MARGIN" or order.symbol not in symbols or order.type != "LIMIT":
            continue
        spec = ex.state.futures_symbol(order.symbol)
        assert spec is not None
        if _marketable(ex, order, spec) is None:
            continue
        qty = order.remaining
        if order.reduce_only or dual:
            pos = ex.ledger.position(spec.kind, spec.symbol, _POSITION_SIDES[order.position_side])
            closing = dual and (order.position_side == "LONG") == (order.side == "SELL")
            if order.reduce_only or closing:
                cap = _reduce_cap(dual, order.side, pos, order.reduce_only)
                qty = min(qty, cap if cap is not None else qty)
        if qty <= 0:
            _finish(ex, order, spec, "EXPIRED")
            continue
        fill(ex, order, qty, order.price, maker=True)


def find(ex: PaperExchange, kind: Kind, p: Mapping[str, str]) -> Order | BinanceError:
    symbol = p.get("symbol")
    if not symbol:
        return errors.missing("symbol")
    raw_id = p.get("orderId")
    client_id = p.get("origClientOrderId")
    if not raw_id and not client_id:
        return errors.missing("orderId")
    order_id = None
    if raw_id:
        if not raw_id.isdigit():
            return errors.missing("orderId")
        order_id = int(raw_id)
    order = ex.book.find(kind, symbol, order_id, client_id)
    return order if order is not None else errors.NO_SUCH_ORDER


def cancel(ex: PaperExchange, kind: Kind, p: Mapping[str, str]) -> Order | BinanceError:
    order = find(ex, kind, p)
    if isinstance(order, BinanceError):
        return errors.UNKNOWN_ORDER if order is errors.NO_SUCH_ORDER else order
    if not order.is_open:
        return errors.UNKNOWN_ORDER
    spec = ex.state.futures_symbol(order.symbol)
    assert spec is not None
    _finish(ex, order, spec, "CANCELED")
    return order


def cancel_all(ex: PaperExchange, kind: Kind, symbol: str | None) -> list[Order]:
    cancelled = []
    for order in ex.book.open_orders(kind, symbol):
        spec = ex.state.futures_symbol(order.symbol)
        assert spec is not None
        _finish(ex, order, spec, "CANCELED")
        cancelled.append(order)
    return cancelled


def modify(ex: PaperExchange, kind: Kind, p: Mapping[str, str]) -> Order | BinanceError:
    """PUT order: new price and quantity for an open LIMIT order (binance-pm.md §2.3)."""
    gate = ex.trading_gate()
    if gate is not None:
        return gate
    order = find(ex, kind, p)
    if isinstance(order, BinanceError):
        return order
    qty = parse_decimal(p.get("quantity"))
    price = parse_decimal(p.get("price"))
    if qty is None:
        return errors.missing("quantity")
    if price is None:
        return errors.missing("price")
    if p.get("side") != order.side:
        return BinanceError(-4136, "Side does not match the original order.")
    if not order.is_open or order.type != "LIMIT":
        return BinanceError(-2013, "Order does not exist.")
    spec = ex.state.futures_symbol(order.symbol)
    assert spec is not None
    f = spec.filters
    if not _on_step(qty, f.min_qty, f.step_size):
        return BAD_PRECISION
    if not _on_step(price, f.min_price, f.tick_size):
        return BinanceError(-4014, "Price not increased by tick size.")
    if qty <= order.executed_qty:
        _finish(ex, order, spec, "CANCELED")
        return order
    order.quantity = qty
    order.price = price
    order.update_time = ex.now()
    ex.emit(events.order_trade_update, order, spec, x="AMENDMENT", fill=None, now=order.update_time)
    match_resting(ex, {order.symbol})
    ex.after_change()
    return order
