"""The paper exchange's own uniMMR: a plain, non-incremental reference computation.

Deliberately independent of `margin_gate.margin` (the gateway's engine): the two are compared
in tests, which only means something if neither borrows from the other. Formulas are
binance-pm.md §1.1-§1.4, looped over assets and positions every time:

    E_a    = crossMarginAsset - borrowed - interest + umWallet + cmWallet + umPnL_a + cmPnL_a
    Equity = Σ_a min(E_a·P_a·CR_a, E_a·P_a)          (haircut only positive equity; tiers optional)
    MM     = Σ_UM (|amt|·mark·mmr - cum)·P_margin     (bracket by USD notional)
           + Σ_CM (|contracts|·size/mark·mmr - cum)·P_coin   (bracket by coin quantity)
           + Σ_a (borrowed_a [+ interest_a])·loanMMR_a·P_a
    uniMMR = Equity / MM                               (None when MM is 0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from margin_gate.paper.ledger import Ledger
from margin_gate.paper.ledger import Position
from margin_gate.paper.numbers import ONE
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.schema import Bracket
from margin_gate.paper.schema import CollateralTier
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import PaperState

__all__ = [
    "AssetRisk",
    "RiskSnapshot",
    "bracket_for",
    "cm_coin_notional",
    "cm_unrealized",
    "collateral_value",
    "compute",
    "maint_margin",
    "um_unrealized",
]


@dataclass(frozen=True, slots=True)
class AssetRisk:
    """One asset's contribution (native units unless the name says usd)."""

    asset: str
    equity: Decimal
    index_price: Decimal
    adjusted_usd: Decimal  # after collateral rate
    actual_usd: Decimal  # E_a · P_a
    futures_mm: Decimal
    margin_mm: Decimal
    mm_usd: Decimal
    um_pnl: Decimal
    cm_pnl: Decimal


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    account_equity: Decimal  # USD, with collateral rates
    actual_equity: Decimal  # USD, without
    maint_margin: Decimal  # USD
    initial_margin: Decimal  # USD (futures only; informational)
    uni_mmr: Decimal | None  # None when there is no maintenance margin
    assets: dict[str, AssetRisk]


def um_unrealized(pos: Position, mark: Decimal) -> Decimal:
    return pos.amount * (mark - pos.entry_price) if pos.amount else ZERO


def cm_unrealized(pos: Position, mark: Decimal, contract_size: Decimal) -> Decimal:
    """Inverse PnL in coin: contracts × size × (1/entry − 1/mark)."""
    if not pos.amount:
        return ZERO
    return pos.amount * contract_size * (ONE / pos.entry_price - ONE / mark)


def cm_coin_notional(contracts: Decimal, contract_size: Decimal, mark: Decimal) -> Decimal:
    return abs(contracts) * contract_size / mark


def bracket_for(brackets: tuple[Bracket, ...], value: Decimal) -> Bracket:
    """The bracket with floor <= value < cap (beyond the last cap: the last bracket)."""
    for b in brackets:
        if b.floor <= value < b.cap:
            return b
    return brackets[-1] if value >= brackets[-1].floor else brackets[0]


def maint_margin(brackets: tuple[Bracket, ...], value: Decimal) -> Decimal:
    """value × mmr − cum for the bracket containing value; never below zero."""
    b = bracket_for(brackets, value)
    return max(value * b.mmr - b.cum, ZERO)


def collateral_value(
    usd: Decimal, rate: Decimal, tiers: tuple[CollateralTier, ...] | None
) -> Decimal:
    """Haircut USD value: min(V·CR, V); tiered assets apply each tier's rate to its slice."""
    if usd <= 0:
        return usd
    if not tiers:
        return min(usd * rate, usd)
    total = ZERO
    for tier in tiers:
        if usd <= tier.floor:
            break
        total += (min(usd, tier.cap) - tier.floor) * min(tier.rate, ONE)
    last = tiers[-1]
    if usd > last.cap:
        total += (usd - last.cap) * min(last.rate, ONE)
    return total


def _futures_mm(legs: Iterable[Position], spec: FuturesSymbol, mark: Decimal) -> Decimal:
    """MM (margin-asset units) for a group of legs bracketed together."""
    amount = sum((p.amount for p in legs), ZERO)
    if spec.kind == "UM":
        return maint_margin(spec.brackets, abs(amount) * mark)
    return maint_margin(spec.brackets, cm_coin_notional(amount, spec.contract_size, mark))


def compute(ledger: Ledger, state: PaperState) -> RiskSnapshot:
    risk = state.risk
    equity: dict[str, Decimal] = {}
    um_pnl: dict[str, Decimal] = {}
    cm_pnl: dict[str, Decimal] = {}
    futures_mm: dict[str, Decimal] = {}
    initial_usd = ZERO
    for b in ledger.balances.values():
        equity[b.asset] = b.cross_margin_asset - b.borrowed - b.interest + b.um_wallet + b.cm_wallet
    groups: dict[tuple[str, str], list[Position]] = {}
    for pos in ledger.open_positions():
        spec = state.um_symbols[pos.symbol] if pos.kind == "UM" else state.cm_symbols[pos.symbol]
        mark = ledger.mark[pos.symbol]
        asset = spec.margin_asset
        if pos.kind == "UM":
            pnl = um_unrealized(pos, mark)
            um_pnl[asset] = um_pnl.get(asset, ZERO) + pnl
            notional_usd = abs(pos.amount) * mark * ledger.asset_index[asset]
        else:
            pnl = cm_unrealized(pos, mark, spec.contract_size)
            cm_pnl[asset] = cm_pnl.get(asset, ZERO) + pnl
            notional_usd = (
                cm_coin_notional(pos.amount, spec.contract_size, mark) * ledger.asset_index[asset]
            )
        equity[asset] = equity.get(asset, ZERO) + pnl
        initial_usd += notional_usd / Decimal(ledger.leverage.get(pos.symbol, 20))
        # Hedge legs: bracketed each on its own, or netted per symbol (binance-pm.md §1.4).
        group = pos.side if risk.hedge_legs_separate else "NET"
        groups.setdefault((pos.symbol, group), []).append(pos)
    for (symbol, _), legs in groups.items():
        spec = state.um_symbols.get(symbol) or state.cm_symbols[symbol]
        mm = _futures_mm(legs, spec, ledger.mark[symbol])
        futures_mm[spec.margin_asset] = futures_mm.get(spec.margin_asset, ZERO) + mm
    assets: dict[str, AssetRisk] = {}
    total_adj = total_actual = total_mm = ZERO
    for asset in sorted(set(equity) | set(futures_mm)):
        bal = ledger.balances.get(asset)
        loan = ZERO
        if bal is not None:
            loan = bal.borrowed + (bal.interest if risk.loan_interest_in_mm else ZERO)
        margin_mm = loan * state.loan_mmr.get(asset, state.default_loan_mmr)
        price = ledger.asset_index[asset]
        e = equity.get(asset, ZERO)
        actual = e * price
        rate = state.collateral_rates.get(asset, state.default_collateral_rate)
        adjusted = collateral_value(actual, rate, state.collateral_tiers.get(asset))
        fmm = futures_mm.get(asset, ZERO)
        mm_usd = (fmm + margin_mm) * price
        assets[asset] = AssetRisk(
            asset,
            e,
            price,
            adjusted,
            actual,
            fmm,
            margin_mm,
            mm_usd,
            um_pnl.get(asset, ZERO),
            cm_pnl.get(asset, ZERO),
        )
        total_adj += adjusted
        total_actual += actual
        total_mm += mm_usd
    uni = total_adj / total_mm if total_mm > 0 else None
    return RiskSnapshot(total_adj, total_actual, total_mm, initial_usd, uni, assets)
