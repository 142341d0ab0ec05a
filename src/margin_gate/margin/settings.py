"""Projection settings: every UNCONFIRMED fact of binance-pm.md §1 is a knob here.

Defaults lean conservative where the source is silent; docs/margin-engine.md lists each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from margin_gate.margin.decimals import ONE
from margin_gate.margin.decimals import ZERO

__all__ = [
    "BracketBoundary",
    "ConditionalMode",
    "HedgeBracketing",
    "ProjectionSettings",
    "TierBasis",
]

OUT_OF_RANGE = "ProjectionSettings.{name}={value} is outside {range}"

ConditionalMode = Literal[
    "project",  # project conditional/algo orders as if triggered and filled (§2.3 gateway note)
    "reduce_only",  # refuse conditional orders unless reduceOnly/closePosition
]
HedgeBracketing = Literal[
    "per_leg",  # LONG and SHORT legs each take their own bracket (§1.4, UNCONFIRMED)
    "combined",  # one bracket on |long| + |short| notional; MM(n) is convex, so this is higher
]
BracketBoundary = Literal[
    "floor",  # floor ≤ notional < cap (§1.5, inclusivity UNCONFIRMED)
    "cap",  # floor < notional ≤ cap
]
TierBasis = Literal[
    "usd_value",  # tier bounds are USD value E×P, like Cross Margin haircuts (§1.6)
    "quantity",  # tier bounds are asset quantity E
]


@dataclass(frozen=True, slots=True)
class ProjectionSettings:
    """How the engine values an account and projects orders.

    market_slippage: fraction a MARKET (or priceMatch, *_MARKET, trailing) fill is assumed to
        move against the order from mark, capped by marketTakeBound / PERCENT_PRICE (§1.10, §5.1).
    include_resting_orders: count the snapshot's open orders as pending (worst side, §5 of the
        design in docs/margin-engine.md); in-flight reservations are always counted.
    conditional_mode: see `ConditionalMode`.
    loan_mm_includes_interest: margin-loan MM on borrowed + interest (True) or borrowed only
        (§1.4: UNCONFIRMED; True is the conservative reading).
    hedge_bracketing / bracket_boundary / collateral_tier_basis: §1.4, §1.5, §1.6 UNCONFIRMED.
    default_taker_fee: futures taker fee when the snapshot has no commission for the symbol.
    default_margin_taker_fee: Cross Margin / spot taker fee default.
    default_loan_mm_rate: margin-loan MM rate when none is given (3x → 10%, §1.4).
    default_collateral_rate: rate for an asset with no collateral entry. 0 = no credit for
        an unlisted asset (a 2022 PM Pro page says 0.1; UNCONFIRMED today).
    pending_buffer: b in the pending-order side rule: the worse side is the one with the lower
        ΔE_usd − b × ΔMM_usd; use the policy's uniMMR floor (e.g. 1.5).
    """

    market_slippage: Decimal = Decimal("0.005")
    include_resting_orders: bool = True
    conditional_mode: ConditionalMode = "project"
    loan_mm_includes_interest: bool = True
    hedge_bracketing: HedgeBracketing = "per_leg"
    bracket_boundary: BracketBoundary = "floor"
    collateral_tier_basis: TierBasis = "usd_value"
    default_taker_fee: Decimal = Decimal("0.0005")
    default_margin_taker_fee: Decimal = Decimal("0.001")
    default_loan_mm_rate: Decimal = Decimal("0.10")
    default_collateral_rate: Decimal = Decimal("0")
    pending_buffer: Decimal = Decimal("1.5")

    def __post_init__(self) -> None:
        """Refuse values that would make the arithmetic meaningless (fail at startup)."""
        fractions = {
            "market_slippage": self.market_slippage,
            "default_taker_fee": self.default_taker_fee,
            "default_margin_taker_fee": self.default_margin_taker_fee,
            "default_loan_mm_rate": self.default_loan_mm_rate,
        }
        for name, value in fractions.items():
            if not ZERO <= value < ONE:
                raise ValueError(OUT_OF_RANGE.format(name=name, value=value, range="[0, 1)"))
        if not ZERO <= self.default_collateral_rate <= ONE:
            raise ValueError(
                OUT_OF_RANGE.format(
                    name="default_collateral_rate",
                    value=self.default_collateral_rate,
                    range="[0, 1]",
                )
            )
        if self.pending_buffer < ZERO:
            raise ValueError(
                OUT_OF_RANGE.format(name="pending_buffer", value=self.pending_buffer, range="≥ 0")
            )
