"""Effective account = confirmed data + the still-open parts of pending fills.

A pending fill counts exactly once: through its open parts here until the ACCOUNT_UPDATE /
outboundAccountPosition that carries it arrives, then through the confirmed data (events.py
closes the part in the same step that writes the confirmed value). Futures fills replay the
exchange's bookkeeping with the engine's `futures_fill` (UM weighted / CM harmonic entry,
realized PnL from the event's `rp`), margin fills move base and quote and charge the fee
(binance-pm.md §1.10 steps 3–5, §4.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from margin_gate.margin.decimals import ZERO
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.fills import futures_fill
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Position
from margin_gate.state.data import AccountData
from margin_gate.state.data import PosKey
from margin_gate.state.data import Prices
from margin_gate.state.types import PendingFill

__all__ = [
    "effective_balance",
    "effective_balances",
    "effective_positions",
    "effective_snapshot",
    "fill_assets",
    "open_loss_usd",
]

_SIDES = ("BOTH", "LONG", "SHORT")
_FUTURES = ("UM", "CM")


def _add(b: Balance, wallet: str, amount: Decimal) -> Balance:
    if wallet == "um":
        return Balance(
            b.asset,
            b.cross_margin_asset,
            b.cross_margin_borrowed,
            b.cross_margin_interest,
            b.um_wallet + amount,
            b.cm_wallet,
            b.cross_margin_locked,
        )
    if wallet == "cm":
        return Balance(
            b.asset,
            b.cross_margin_asset,
            b.cross_margin_borrowed,
            b.cross_margin_interest,
            b.um_wallet,
            b.cm_wallet + amount,
            b.cross_margin_locked,
        )
    return Balance(
        b.asset,
        b.cross_margin_asset + amount,
        b.cross_margin_borrowed,
        b.cross_margin_interest,
        b.um_wallet,
        b.cm_wallet,
        b.cross_margin_locked,
    )


def fill_assets(data: AccountData, fill: PendingFill) -> dict[str, Decimal]:
    """The wallet change (asset units) each asset of `fill` gets, before confirmation."""
    changes: dict[str, Decimal] = {}
    if fill.market == "MARGIN":
        instrument = data.static.instrument("MARGIN", fill.symbol)
        if instrument is not None:
            sign = 1 if fill.side == "BUY" else -1
            base, quote = instrument.base_asset, instrument.quote_asset
            changes[base] = changes.get(base, ZERO) + sign * fill.qty
            changes[quote] = changes.get(quote, ZERO) - sign * fill.quote_qty
    else:
        instrument = data.static.instrument(fill.market, fill.symbol)
        if instrument is not None and fill.realized:
            changes[instrument.margin_asset] = fill.realized
    if fill.fee and fill.fee_asset:
        changes[fill.fee_asset] = changes.get(fill.fee_asset, ZERO) - fill.fee
    return changes


@engine_context
def effective_balance(data: AccountData, asset: str) -> Balance:
    """`asset`'s confirmed balance plus the open wallet parts of pending fills."""
    balance = data.balances.get(asset) or Balance(asset)
    for fill in _ordered(data.fills.values()):
        if asset not in fill.open_assets:
            continue
        amount = fill_assets(data, fill).get(asset, ZERO)
        if amount:
            wallet = "margin" if fill.market == "MARGIN" else fill.market.lower()
            balance = _add(balance, wallet, amount)
    return balance


def effective_balances(data: AccountData) -> dict[str, Balance]:
    assets = set(data.balances)
    for fill in data.fills.values():
        assets.update(fill.open_assets)
    return {a: effective_balance(data, a) for a in sorted(assets)}


def _ordered(fills: Iterable[PendingFill]) -> list[PendingFill]:
    return sorted(fills, key=lambda f: (f.time, f.trade_id))


@engine_context
def effective_positions(
    data: AccountData, symbols: Iterable[str] | None = None
) -> dict[PosKey, Position]:
    """Positions (all, or of `symbols`) with the open position parts of pending fills applied.

    Zero positions are left out. With `symbols`, O(symbols + pending fills)."""
    wanted = None if symbols is None else set(symbols)
    if wanted is None:
        result: dict[PosKey, Position] = dict(data.positions)
    else:
        result = {}
        for symbol in wanted:
            for market in _FUTURES:
                for side in _SIDES:
                    found = data.positions.get((market, symbol, side))
                    if found is not None:
                        result[(market, symbol, side)] = found
    fills = data.fills.values()
    if wanted is not None:
        fills = [f for f in fills if f.symbol in wanted]  # type: ignore[assignment]
    for fill in _ordered(fills):
        if fill.market == "MARGIN" or not fill.position_open:
            continue
        if wanted is not None and fill.symbol not in wanted:
            continue
        instrument = data.static.instrument(fill.market, fill.symbol)
        inverse = None
        if fill.market == "CM":
            inverse = instrument.contract_size if instrument is not None else Decimal(1)
        key: PosKey = (fill.market, fill.symbol, fill.position_side)
        old = result.get(key)
        amount, entry = (ZERO, ZERO) if old is None else (old.amount, old.entry_price)
        delta = fill.qty if fill.side == "BUY" else -fill.qty
        new_amount, new_entry, _ = futures_fill(amount, entry, delta, fill.price, inverse)
        result[key] = Position(
            fill.symbol,
            "UM" if fill.market == "UM" else "CM",
            fill.position_side,
            new_amount,
            new_entry,
        )
    return {k: p for k, p in result.items() if p.amount != ZERO}


def open_loss_usd(data: AccountData, prices: Prices) -> Decimal:
    total = ZERO
    for asset, amount in data.open_loss.items():
        price = Decimal(1) if asset == "USD" else prices.index.get(asset)
        if price is not None:
            total += abs(amount) * price
    return total


def effective_snapshot(data: AccountData, prices: Prices) -> AccountSnapshot:
    """The immutable snapshot the margin engine reads (static data, effective balances and
    positions, confirmed open orders, current marks and index prices)."""
    s = data.static
    return AccountSnapshot(
        balances=tuple(effective_balances(data).values()),
        positions=tuple(effective_positions(data).values()),
        instruments=s.instruments,
        brackets=s.brackets,
        mark_prices=dict(prices.marks),
        index_prices=dict(prices.index),
        collateral_rates=s.collateral_rates,
        loan_mm_rates=s.loan_mm_rates,
        commissions=s.commissions,
        um_hedge_mode=s.um_hedge_mode,
        cm_hedge_mode=s.cm_hedge_mode,
        open_orders=tuple(data.open_orders[k] for k in sorted(data.open_orders)),
        open_loss_usd=open_loss_usd(data, prices),
    )
