"""Cross-margin orders (PAPI margin, sapi margin, and spot on the same wallet), borrow and repay.

- Prices: a margin symbol trades around index(base)/index(quote), taker at ± spread.
- Funds: BUY pays quote, SELL pays base; resting orders lock what they would pay.
- sideEffectType: MARGIN_BUY and AUTO_BORROW_REPAY borrow the shortfall at placement (refused
  while uniMMR is at or below the reduce-only level, or when borrowing would take it there);
  AUTO_REPAY and AUTO_BORROW_REPAY repay the received asset's debt from the proceeds.
  Without a borrowing side effect a shortfall is -2010 "Account has insufficient balance...".
- Events: executionReport per order change, liabilityChange per borrow/repay,
  outboundAccountPosition for the assets touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from margin_gate.paper import errors
from margin_gate.paper import events
from margin_gate.paper.fills import apply_margin_fill
from margin_gate.paper.fills import borrow
from margin_gate.paper.fills import repay
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import floor_to
from margin_gate.paper.numbers import parse_decimal
from margin_gate.paper.orders import SIDES
from margin_gate.paper.orders import Fill
from margin_gate.paper.orders import Order
from margin_gate.paper.orders import Side
from margin_gate.paper.schema import MarginSymbol
from margin_gate.wire.errors import BAD_SYMBOL
from margin_gate.wire.errors import BinanceError

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = [
    "borrow_refusal",
    "cancel",
    "cancel_all",
    "execute_market",
    "find",
    "loan",
    "match_resting",
    "place",
    "repay_debt",
    "repay_loan",
]

_SIDE_EFFECTS = frozenset({"NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY"})
_BORROWING = frozenset({"MARGIN_BUY", "AUTO_BORROW_REPAY"})
_REPAYING = frozenset({"AUTO_REPAY", "AUTO_BORROW_REPAY"})
_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER"})
_UNSUPPORTED = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
_WOULD_TAKE = BinanceError(-2010, "Order would immediately match and take.")


def borrow_refusal(ex: PaperExchange, asset: str, amount: Decimal) -> BinanceError | None:
    """Why borrowing `amount` of `asset` is refused now, or None.

    Refused while the account is at or below the reduce-only level, or if the extra loan
    maintenance margin would take uniMMR there (the paper's stand-in for max borrowable)."""
    if ex.status in ("REDUCE_ONLY", "FORCE_LIQUIDATION", "BANKRUPTED"):
        return errors.MARGIN_REDUCE_ONLY
    price = ex.ledger.asset_index.get(asset)
    if price is None:
        return BinanceError(-3027, "Not a valid margin asset.")
    snap = ex.risk()
    extra = amount * ex.state.loan_mmr.get(asset, ex.state.default_loan_mmr) * price
    if snap.account_equity <= (snap.maint_margin + extra) * ex.state.risk.reduce_only:
        return errors.MARGIN_BORROW_REFUSED
    return None


def _do_borrow(ex: PaperExchange, asset: str, amount: Decimal, now: int) -> int:
    borrow(ex.ledger, asset, amount, now)
    bal = ex.ledger.balance(asset)
    tran_id = ex.book.next_tran_id()
    ex.emit(events.liability_change, asset, "BORROW", tran_id, amount, ZERO, bal.liability, now=now)
    return tran_id


def repay_debt(ex: PaperExchange, asset: str, amount: Decimal, now: int) -> tuple[Decimal, Decimal]:
    interest, principal = repay(ex.ledger, asset, amount, now)
    if interest or principal:
        bal = ex.ledger.balance(asset)
        ex.emit(
            events.liability_change,
            asset,
            "REPAY",
            ex.book.next_tran_id(),
            principal,
            interest,
            bal.liability,
            now=now,
        )
    return interest, principal


def _positions(ex: PaperExchange, assets: list[str], now: int) -> None:
    balances = [ex.ledger.balance(a) for a in dict.fromkeys(assets)]
    ex.emit(events.outbound_account_position, balances, now=now, update_id=ex.next_update_id())


@dataclass(frozen=True, slots=True)
class _Request:
    spec: MarginSymbol
    side: Side
    type: str
    side_effect: str
    quantity: Decimal
    quote_order_qty: Decimal
    price: Decimal
    time_in_force: str
    taker: Decimal  # the taker price now


def _basics(
    ex: PaperExchange, p: Mapping[str, str], spot: bool
) -> tuple[MarginSymbol, Side, str, str] | BinanceError:
    symbol = p.get("symbol")
    if not symbol:
        return errors.missing("symbol")
    spec = ex.state.margin_symbols.get(symbol)
    if spec is None:
        return BAD_SYMBOL
    raw_side = p.get("side")
    side = SIDES.get(raw_side or "")
    if side is None:
        return errors.missing("side") if not raw_side else errors.BAD_SIDE
    order_type = p.get("type") or ""
    if order_type not in _TYPES:
        if order_type in _UNSUPPORTED:
            return errors.BAD_ORDER_TYPE.with_msg("Order type not supported by the paper exchange.")
        return errors.missing("type") if not order_type else errors.BAD_ORDER_TYPE
    side_effect = "NO_SIDE_EFFECT" if spot else (p.get("sideEffectType") or "NO_SIDE_EFFECT")
    if side_effect not in _SIDE_EFFECTS:
        return BinanceError(-1102, "Parameter 'sideEffectType' was malformed.")
    return spec, side, order_type, side_effect


def _parse(ex: PaperExchange, p: Mapping[str, str], spot: bool) -> _Request | BinanceError:
    basics = _basics(ex, p, spot)
    if isinstance(basics, BinanceError):
        return basics
    spec, side, order_type, side_effect = basics
    taker = ex.margin_taker_price(spec, side == "BUY")
    qty = parse_decimal(p.get("quantity"))
    quote_qty = parse_decimal(p.get("quoteOrderQty"))
    if qty is None and quote_qty is not None and order_type == "MARKET":
        qty = floor_to(quote_qty / taker, spec.filters.step_size)
    if qty is None:
        return errors.missing("quantity")
    price = ZERO
    tif = "GTC"
    if order_type != "MARKET":
        parsed = parse_decimal(p.get("price"))
        if parsed is None:
            return errors.missing("price")
        price = parsed
    if order_type == "LIMIT":
        tif = p.get("timeInForce") or ""
        if not tif:
            return errors.missing("timeInForce")
        if tif not in ("GTC", "IOC", "FOK"):
            return errors.BAD_TIF
    return _Request(spec, side, order_type, side_effect, qty, quote_qty or ZERO, price, tif, taker)


def _fund(
    ex: PaperExchange, req: _Request, marketable: bool, now: int
) -> tuple[str, Decimal, Decimal] | BinanceError:
    """Make sure the paying asset is there, borrowing the shortfall if the side effect allows.

    Returns (paying asset, amount needed, amount borrowed)."""
    buy = req.side == "BUY"
    pay_asset = req.spec.quote if buy else req.spec.base
    need = req.quantity * (req.taker if marketable else req.price) if buy else req.quantity
    shortfall = need - ex.ledger.balance(pay_asset).free
    if shortfall <= 0:
        return pay_asset, need, ZERO
    if req.side_effect not in _BORROWING:
        return errors.INSUFFICIENT_BALANCE
    refusal = borrow_refusal(ex, pay_asset, shortfall)
    if refusal is not None:
        return refusal
    _do_borrow(ex, pay_asset, shortfall, now)
    return pay_asset, need, shortfall


def place(ex: PaperExchange, p: Mapping[str, str], *, spot: bool = False) -> Order | BinanceError:
    gate = ex.trading_gate()
    if gate is not None:
        return gate
    req = _parse(ex, p, spot)
    if isinstance(req, BinanceError):
        return req
    spec = req.spec
    buy = req.side == "BUY"
    problem = _check_filters(spec, req.quantity, req.taker if req.type == "MARKET" else req.price)
    if problem is not None:
        return problem
    marketable = req.type == "MARKET" or (req.price >= req.taker if buy else req.price <= req.taker)
    if req.type == "LIMIT_MAKER" and marketable:
        return _WOULD_TAKE
    if req.time_in_force == "FOK" and not marketable:
        return errors.FOK_REJECT
    client_id = p.get("newClientOrderId") or ex.book.new_client_id()
    if ex.book.client_id_in_use("MARGIN", client_id):
        return BinanceError(-2010, "Duplicate order sent.")
    now = ex.now()
    funded = _fund(ex, req, marketable, now)
    if isinstance(funded, BinanceError):
        return funded
    pay_asset, need, borrowed = funded
    order = Order(
        venue="MARGIN",
        order_id=ex.book.next_order_id(),
        client_order_id=client_id,
        symbol=spec.symbol,
        side=req.side,
        type=req.type,
        time_in_force=req.time_in_force,
        quantity=req.quantity,
        price=req.price,
        time=now,
        side_effect=req.side_effect,
        quote_order_qty=req.quote_order_qty,
        borrowed=borrowed,
        borrow_asset=pay_asset if borrowed else "",
        auto_repay_at_cancel=(p.get("autoRepayAtCancel") or "true").lower() != "false",
    )
    ex.book.add(order)
    _report(ex, order, spec, "NEW", None)
    if marketable:
        _fill(ex, order, spec, req.quantity, req.taker, maker=False)
    elif req.time_in_force == "IOC":
        _close(ex, order, spec, "EXPIRED")
    else:
        order.locked_asset, order.locked = pay_asset, need
        bal = ex.ledger.balance(pay_asset)
        bal.free -= need
        bal.locked += need
        ex.ledger.touch(now)
    _positions(ex, [spec.base, spec.quote], now)
    ex.after_change()
    return order


def _check_filters(spec: MarginSymbol, qty: Decimal, price: Decimal) -> BinanceError | None:
    f = spec.filters
    if qty <= 0 or qty < f.min_qty or (f.max_qty and qty > f.max_qty):
        return errors.filter_failure("LOT_SIZE")
    if (qty - f.min_qty) % f.step_size:
        return errors.filter_failure("LOT_SIZE")
    if price <= 0 or (price - f.min_price) % f.tick_size:
        return errors.filter_failure("PRICE_FILTER")
    if f.min_notional and qty * price < f.min_notional:
        return errors.filter_failure("NOTIONAL")
    return None


def _report(ex: PaperExchange, order: Order, spec: MarginSymbol, x: str, fill: Fill | None) -> None:
    ex.emit(
        events.execution_report,
        order,
        spec,
        x=x,
        fill=fill,
        now=ex.now(),
        update_id=ex.next_update_id(),
    )


def _close(ex: PaperExchange, order: Order, spec: MarginSymbol, status: str) -> None:
    order.status = status
    order.update_time = ex.now()
    ex.book.closed(order)
    _report(ex, order, spec, status, None)


def _fill(
    ex: PaperExchange,
    order: Order,
    spec: MarginSymbol,
    qty: Decimal,
    price: Decimal,
    *,
    maker: bool,
) -> None:
    now = ex.now()
    buy = order.side == "BUY"
    from_locked = order.locked > 0
    result = apply_margin_fill(
        ex.ledger, spec, buy, qty, price, spec.maker if maker else spec.taker, from_locked, now
    )
    if from_locked:
        # The lock was sized at the limit price; a maker fill pays exactly that.
        order.locked = ZERO
    trade = Fill(
        price=price,
        qty=qty,
        commission=result.commission,
        commission_asset=result.commission_asset,
        trade_id=ex.book.next_trade_id(),
        maker=maker,
        quote_qty=result.quote_qty,
    )
    order.fills.append(trade)
    order.executed_qty += qty
    order.cum_quote += result.quote_qty
    order.update_time = now
    order.status = "FILLED" if order.remaining <= 0 else "PARTIALLY_FILLED"
    if not order.is_open:
        ex.book.closed(order)
    _report(ex, order, spec, "TRADE", trade)
    if order.side_effect in _REPAYING:
        repay_debt(ex, result.commission_asset, result.received, now)


def execute_market(
    ex: PaperExchange, spec: MarginSymbol, buy: bool, qty: Decimal, client_id: str
) -> Order:
    """A liquidation trade: MARKET at the taker price, no checks (the engine owns the account)."""
    now = ex.now()
    order = Order(
        venue="MARGIN",
        order_id=ex.book.next_order_id(),
        client_order_id=client_id,
        symbol=spec.symbol,
        side="BUY" if buy else "SELL",
        type="MARKET",
        time_in_force="IOC",
        quantity=qty,
        price=ZERO,
        time=now,
    )
    ex.book.add(order)
    _report(ex, order, spec, "NEW", None)
    _fill(ex, order, spec, qty, ex.margin_taker_price(spec, buy), maker=False)
    return order


def match_resting(ex: PaperExchange) -> None:
    for order in list(ex.book.open.values()):
        if order.venue != "MARGIN" or order.type not in ("LIMIT", "LIMIT_MAKER"):
            continue
        spec = ex.state.margin_symbols[order.symbol]
        buy = order.side == "BUY"
        taker = ex.margin_taker_price(spec, buy)
        if (buy and taker <= order.price) or (not buy and taker >= order.price):
            _fill(ex, order, spec, order.remaining, order.price, maker=True)
            _positions(ex, [spec.base, spec.quote], ex.now())


def find(ex: PaperExchange, p: Mapping[str, str]) -> Order | BinanceError:
    symbol = p.get("symbol")
    if not symbol:
        return errors.missing("symbol")
    raw_id = p.get("orderId")
    client_id = p.get("origClientOrderId")
    if not raw_id and not client_id:
        return errors.missing("orderId")
    order_id = int(raw_id) if raw_id and raw_id.isdigit() else None
    if raw_id and order_id is None:
        return errors.missing("orderId")
    order = ex.book.find("MARGIN", symbol, order_id, client_id)
    return order if order is not None else errors.NO_SUCH_ORDER


def _cancel_order(ex: PaperExchange, order: Order) -> None:
    spec = ex.state.margin_symbols[order.symbol]
    now = ex.now()
    if order.locked:
        bal = ex.ledger.balance(order.locked_asset)
        bal.locked -= order.locked
        bal.free += order.locked
        order.locked = ZERO
        ex.ledger.touch(now)
    _close(ex, order, spec, "CANCELED")
    if order.borrowed and order.auto_repay_at_cancel and not order.executed_qty:
        repay_debt(ex, order.borrow_asset, order.borrowed, now)
    _positions(ex, [spec.base, spec.quote], now)


def cancel(ex: PaperExchange, p: Mapping[str, str]) -> Order | BinanceError:
    order = find(ex, p)
    if isinstance(order, BinanceError):
        return errors.UNKNOWN_ORDER if order is errors.NO_SUCH_ORDER else order
    if not order.is_open:
        return errors.UNKNOWN_ORDER
    _cancel_order(ex, order)
    ex.after_change()
    return order


def cancel_all(ex: PaperExchange, symbol: str | None) -> list[Order]:
    cancelled = list(ex.book.open_orders("MARGIN", symbol))
    for order in cancelled:
        _cancel_order(ex, order)
    if cancelled:
        ex.after_change()
    return cancelled


def _asset_amount(ex: PaperExchange, p: Mapping[str, str]) -> tuple[str, Decimal] | BinanceError:
    asset = p.get("asset")
    if not asset:
        return errors.missing("asset")
    amount = parse_decimal(p.get("amount"))
    if amount is None or amount <= 0:
        return errors.missing("amount")
    if asset not in ex.ledger.asset_index:
        return BinanceError(-3027, "Not a valid margin asset.")
    return asset, amount


def loan(ex: PaperExchange, p: Mapping[str, str]) -> int | BinanceError:
    """POST /papi/v1/marginLoan: borrow into the cross-margin wallet; returns the tranId."""
    gate = ex.trading_gate()
    if gate is not None:
        return gate
    parsed = _asset_amount(ex, p)
    if isinstance(parsed, BinanceError):
        return parsed
    asset, amount = parsed
    refusal = borrow_refusal(ex, asset, amount)
    if refusal is not None:
        return refusal
    now = ex.now()
    tran_id = _do_borrow(ex, asset, amount, now)
    _positions(ex, [asset], now)
    ex.after_change()
    return tran_id


def repay_loan(ex: PaperExchange, p: Mapping[str, str]) -> int | BinanceError:
    """POST /papi/v1/repayLoan: repay interest then principal from the free balance."""
    parsed = _asset_amount(ex, p)
    if isinstance(parsed, BinanceError):
        return parsed
    asset, amount = parsed
    bal = ex.ledger.balance(asset)
    if amount > bal.liability:
        return errors.REPAY_TOO_MUCH
    if amount > bal.free:
        return errors.INSUFFICIENT_BALANCE
    now = ex.now()
    repay_debt(ex, asset, amount, now)
    _positions(ex, [asset], now)
    ex.after_change()
    return ex.book.next_tran_id()
