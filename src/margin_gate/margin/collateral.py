"""Collateral haircut of one asset's net equity (binance-pm.md §1.1, §1.2, §1.6).

`haircut = min(E × P × CR, E × P)`: a positive net balance is credited at its collateral rate, a
net liability counts at 100% of its USD value. Tiered rates apply piecewise, like Binance's
Cross Margin example `100M × 1 + 20M × 0.975 = 119.5M` (§1.6); whether PM tiers are bounded in
USD value or in asset quantity is UNCONFIRMED (setting `collateral_tier_basis`). The `cum`
column of `/sapi/v2/portfolio/collateralRate` is not used (its sample is all zeros).
"""

from __future__ import annotations

from decimal import Decimal

from margin_gate.margin.decimals import ZERO
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import CollateralTier
from margin_gate.margin.settings import TierBasis

__all__ = ["haircut_usd", "tiered_amount"]


def tiered_amount(amount: Decimal, tiers: tuple[CollateralTier, ...]) -> Decimal:
    """Σ over tiers of `(min(amount, cap) − floor)⁺ × min(rate, 1)`, for amount ≥ 0.

    Tiers must be sorted by floor and contiguous; an amount beyond the last cap is credited at
    the last tier's rate (a last cap of None means unbounded anyway).
    """
    credited = ZERO
    last = len(tiers) - 1
    for i, tier in enumerate(tiers):
        if amount <= tier.floor:
            break
        top = amount if tier.cap is None or i == last else min(amount, tier.cap)
        credited += (top - tier.floor) * min(tier.rate, Decimal(1))
    return credited


def haircut_usd(equity: Decimal, price: Decimal, rate: CollateralRate, basis: TierBasis) -> Decimal:
    """USD credit of a net balance `equity` (asset units) at index price `price` (USD/unit).

    Flat: `min(E·P·CR, E·P)`; E ≤ 0 → `E·P` (no haircut on a liability, §1.2 DERIVED).
    Tiered: piecewise over `E·P` (basis "usd_value") or over `E` then × P ("quantity").
    """
    if equity <= ZERO:
        return equity * price
    if isinstance(rate, Decimal):
        value = equity * price
        return min(value * rate, value)
    if basis == "usd_value":
        return tiered_amount(equity * price, rate)
    return tiered_amount(equity, rate) * price
