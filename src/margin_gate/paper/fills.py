"""Ledger arithmetic for a trade: futures position updates, cross-margin swaps, borrow and repay.

Pure bookkeeping on `Ledger` objects; no order validation, no events (callers emit those).
- Futures (UM linear, CM inverse): a fill first reduces the opposite exposure (realizing PnL at
  the fill price into the UM/CM wallet of the margin asset), then opens the rest at the fill
  price (entry is the notional-weighted mean for UM, the harmonic mean for CM). The fee is
  charged to the same wallet.
- Cross margin: the commission is taken from the asset received (spot convention).
- Repay pays interest first, then principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margin_gate.paper.ledger import Ledger
from margin_gate.paper.ledger import Position
from margin_gate.paper.numbers import ONE
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import MarginSymbol

__all__ = [
    "FuturesFill",
    "MarginFill",
    "apply_futures_fill",
    "apply_margin_fill",
    "borrow",
    "repay",
]


@dataclass(frozen=True, slots=True)
class FuturesFill:
    realized: Decimal
    fee: Decimal
    fee_asset: str


@dataclass(frozen=True, slots=True)
class MarginFill:
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    received: Decimal  # net of commission, in the asset received


def _pnl(spec: FuturesSymbol, qty: Decimal, entry: Decimal, price: Decimal, sign: int) -> Decimal:
    """PnL of closing `qty` of a position with the given sign (+1 long, −1 short)."""
    if spec.kind == "UM":
        return qty * (price - entry) * sign
    return qty * spec.contract_size * (ONE / entry - ONE / price) * sign


def _entry(
    spec: FuturesSymbol, old_qty: Decimal, old_entry: Decimal, qty: Decimal, price: Decimal
) -> Decimal:
    total = old_qty + qty
    if not old_qty:
        return price
    if spec.kind == "UM":
        return (old_qty * old_entry + qty * price) / total
    return total / (old_qty / old_entry + qty / price)


def apply_futures_fill(
    ledger: Ledger,
    spec: FuturesSymbol,
    pos: Position,
    buy: bool,
    qty: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    now_ms: int,
) -> FuturesFill:
    signed = qty if buy else -qty
    old = pos.amount
    realized = ZERO
    if old == 0 or (old > 0) == buy:
        pos.entry_price = _entry(spec, abs(old), pos.entry_price, qty, price)
    else:
        closing = min(qty, abs(old))
        realized = _pnl(spec, closing, pos.entry_price, price, 1 if old > 0 else -1)
        if qty > abs(old):
            pos.entry_price = price  # flipped: the remainder opens at the fill price
    pos.amount = old + signed
    if pos.amount == 0:
        pos.entry_price = ZERO
    pos.realized += realized
    pos.update_time = now_ms
    if spec.kind == "UM":
        fee = qty * price * fee_rate
    else:
        fee = qty * spec.contract_size / price * fee_rate
    bal = ledger.balance(spec.margin_asset)
    if spec.kind == "UM":
        bal.um_wallet += realized - fee
    else:
        bal.cm_wallet += realized - fee
    ledger.touch(now_ms)
    return FuturesFill(realized, fee, spec.margin_asset)


def apply_margin_fill(
    ledger: Ledger,
    spec: MarginSymbol,
    buy: bool,
    qty: Decimal,
    price: Decimal,
    fee_rate: Decimal,
    from_locked: bool,
    now_ms: int,
) -> MarginFill:
    """Swap on the cross-margin wallet. `from_locked`: the paying side was locked at placement."""
    base, quote = ledger.balance(spec.base), ledger.balance(spec.quote)
    quote_qty = qty * price
    paying, pay_amount = (quote, quote_qty) if buy else (base, qty)
    if from_locked:
        paying.locked -= pay_amount
    else:
        paying.free -= pay_amount
    receiving, gross = (base, qty) if buy else (quote, quote_qty)
    commission = gross * fee_rate
    receiving.free += gross - commission
    ledger.touch(now_ms)
    return MarginFill(quote_qty, commission, receiving.asset, gross - commission)


def borrow(ledger: Ledger, asset: str, amount: Decimal, now_ms: int) -> None:
    bal = ledger.balance(asset)
    bal.borrowed += amount
    bal.free += amount
    ledger.touch(now_ms)


def repay(ledger: Ledger, asset: str, amount: Decimal, now_ms: int) -> tuple[Decimal, Decimal]:
    """Repay up to `amount` from free balance; returns (interest paid, principal paid)."""
    bal = ledger.balance(asset)
    amount = min(amount, bal.free, bal.liability)
    if amount <= 0:
        return ZERO, ZERO
    interest = min(amount, bal.interest)
    principal = amount - interest
    bal.interest -= interest
    bal.borrowed -= principal
    bal.free -= amount
    ledger.touch(now_ms)
    return interest, principal
