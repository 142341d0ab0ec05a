"""What a paper state file says, as frozen values: markets, keys, risk settings, starting account.

`loader.py` builds these from JSON or TOML (refusing unknown keys); `ledger.py` holds the live,
mutable account that starts from `AccountSpec`. docs/paper-exchange.md documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Literal

__all__ = [
    "AccountSpec",
    "ApiKeySpec",
    "BalanceSpec",
    "Bracket",
    "CollateralTier",
    "Filters",
    "FuturesSymbol",
    "Kind",
    "MarginSymbol",
    "PaperState",
    "PositionSide",
    "PositionSpec",
    "PriceSpec",
    "RiskSettings",
]

Kind = Literal["UM", "CM"]
PositionSide = Literal["BOTH", "LONG", "SHORT"]
KeyType = Literal["hmac", "ed25519", "rsa"]


@dataclass(frozen=True, slots=True)
class Bracket:
    """One maintenance-margin bracket (binance-pm.md §1.5). UM bounds are USD notional; CM
    bounds are coin quantity."""

    bracket: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal
    mmr: Decimal
    cum: Decimal


@dataclass(frozen=True, slots=True)
class Filters:
    """Symbol filters (binance-pm.md §5). A zero disables the check, as at Binance."""

    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    multiplier_up: Decimal
    multiplier_down: Decimal
    market_take_bound: Decimal
    max_num_orders: int


@dataclass(frozen=True, slots=True)
class FuturesSymbol:
    symbol: str
    kind: Kind
    pair: str
    base: str
    quote: str
    margin_asset: str  # UM: the quote (USDT/USDC); CM: the coin
    contract_type: str
    delivery_date: int
    onboard_date: int
    contract_size: Decimal  # CM: USD per contract; UM: 1
    filters: Filters
    brackets: tuple[Bracket, ...]
    maker: Decimal
    taker: Decimal
    funding_rate: Decimal


@dataclass(frozen=True, slots=True)
class MarginSymbol:
    symbol: str
    base: str
    quote: str
    filters: Filters
    maker: Decimal
    taker: Decimal


@dataclass(frozen=True, slots=True)
class CollateralTier:
    """Collateral rate applied to the part of an asset's USD value in [floor, cap)."""

    floor: Decimal
    cap: Decimal
    rate: Decimal


@dataclass(frozen=True, slots=True, repr=False)
class ApiKeySpec:
    name: str
    api_key: str
    key_type: KeyType
    material: bytes  # HMAC secret, or a PEM public key

    def __repr__(self) -> str:
        return f"ApiKeySpec({self.name!r}, {self.key_type}, ***)"


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """Exchange-side thresholds and modelling choices (UNCONFIRMED facts made configurable)."""

    margin_call: Decimal = Decimal("1.5")
    reduce_only: Decimal = Decimal("1.20")
    liquidation: Decimal = Decimal("1.05")
    hedge_legs_separate: bool = True
    loan_interest_in_mm: bool = True
    no_maint_margin_uni_mmr: str = "99999999"
    clearance_fee_rate: Decimal = Decimal("0.005")
    liquidation_delay_ms: int = 200
    um_reduce_only_code: int = -4405
    cm_reduce_only_code: int = -4415


@dataclass(frozen=True, slots=True)
class BalanceSpec:
    cross_margin_asset: Decimal = Decimal(0)
    cross_margin_borrowed: Decimal = Decimal(0)
    cross_margin_interest: Decimal = Decimal(0)
    um_wallet_balance: Decimal = Decimal(0)
    cm_wallet_balance: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PositionSpec:
    symbol: str
    position_side: PositionSide
    amount: Decimal  # signed: negative is short (CM: contracts)
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class AccountSpec:
    account_type: str = "PM_2"
    dual_side_position: bool = False
    balances: dict[str, BalanceSpec] = field(default_factory=dict)
    um_positions: tuple[PositionSpec, ...] = ()
    cm_positions: tuple[PositionSpec, ...] = ()
    leverage: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriceSpec:
    mark: dict[str, Decimal]  # futures symbol -> mark price
    index: dict[str, Decimal]  # futures symbol -> index price
    asset_index: dict[str, Decimal]  # asset -> USD index price (collateral valuation)


@dataclass(frozen=True, slots=True)
class PaperState:
    """Everything needed to start a paper exchange; `source` is the file it came from."""

    seed: int
    keys: tuple[ApiKeySpec, ...]
    um_symbols: dict[str, FuturesSymbol]
    cm_symbols: dict[str, FuturesSymbol]
    margin_symbols: dict[str, MarginSymbol]
    collateral_rates: dict[str, Decimal]
    collateral_tiers: dict[str, tuple[CollateralTier, ...]]
    default_collateral_rate: Decimal
    loan_mmr: dict[str, Decimal]
    default_loan_mmr: Decimal
    risk: RiskSettings
    spread: Decimal
    account: AccountSpec
    prices: PriceSpec
    source: Path | None = None

    def futures_symbol(self, symbol: str) -> FuturesSymbol | None:
        return self.um_symbols.get(symbol) or self.cm_symbols.get(symbol)
