"""Account snapshot types: balances, positions, instruments, brackets, rates and open orders.

Every number is a `Decimal` in the unit named on the field. Sources: binance-pm.md §1.10 step 1
(what the state holds), §2.2 (`/papi/v1/balance`, `positionRisk` fields), §1.5 (brackets),
§1.6 (collateral rates, index prices), §5 (exchangeInfo filters, `contractSize`).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Literal

from margin_gate.margin.decimals import ZERO

__all__ = [
    "AccountSnapshot",
    "Balance",
    "Bracket",
    "CollateralRate",
    "CollateralTier",
    "Commission",
    "FuturesMarket",
    "Instrument",
    "Market",
    "OpenOrder",
    "Position",
    "PositionSide",
    "Side",
    "SideEffect",
    "SnapshotError",
    "SymbolKey",
    "instrument_map",
]

Market = Literal[
    "UM",  # USDⓈ-M futures: quantity in base asset, PnL and MM in the margin asset (USDT/USDC)
    "CM",  # COIN-M (inverse) futures: quantity in contracts, PnL and MM in the coin
    "MARGIN",  # Cross Margin (and spot, treated as the margin wallet): balances and loans
]
FuturesMarket = Literal["UM", "CM"]
PositionSide = Literal[
    "BOTH",  # one-way mode: one signed position per symbol
    "LONG",  # hedge mode, long leg (amount ≥ 0)
    "SHORT",  # hedge mode, short leg (amount ≤ 0, as positionRisk reports it)
]
Side = Literal["BUY", "SELL"]
SideEffect = Literal[
    "NO_SIDE_EFFECT",  # plain swap of balances, no borrowing
    "MARGIN_BUY",  # borrow the shortfall of the paid asset
    "AUTO_REPAY",  # proceeds repay the received asset's loan
    "AUTO_BORROW_REPAY",  # both of the above
]
SymbolKey = tuple[Market, str]


class SnapshotError(LookupError):
    """The snapshot lacks a price, bracket or instrument the engine needs: fail closed."""


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset across the three wallets, in that asset's units (`/papi/v1/balance`)."""

    asset: str
    cross_margin_asset: Decimal = ZERO
    cross_margin_borrowed: Decimal = ZERO
    cross_margin_interest: Decimal = ZERO
    um_wallet: Decimal = ZERO
    cm_wallet: Decimal = ZERO
    cross_margin_locked: Decimal = ZERO  # held by open margin orders; free = asset − locked


@dataclass(frozen=True, slots=True)
class Position:
    """A futures position. `amount` is signed: UM base quantity, CM contracts (SHORT legs < 0)."""

    symbol: str
    market: FuturesMarket
    position_side: PositionSide
    amount: Decimal
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class Instrument:
    """Static symbol facts from exchangeInfo (§5). A zero tick/step disables that check."""

    symbol: str
    market: Market
    base_asset: str
    quote_asset: str
    margin_asset: str  # UM: USDT/USDC; CM: the coin; MARGIN: unused (quote)
    contract_size: Decimal = Decimal(1)  # CM: USD per contract (§5.2)
    tick_size: Decimal = ZERO
    step_size: Decimal = ZERO
    min_qty: Decimal = ZERO
    percent_price_up: Decimal | None = None  # PERCENT_PRICE multiplierUp, e.g. 1.05
    percent_price_down: Decimal | None = None  # PERCENT_PRICE multiplierDown, e.g. 0.95
    market_take_bound: Decimal | None = None  # max market-order deviation from mark, e.g. 0.30

    @property
    def key(self) -> SymbolKey:
        return (self.market, self.symbol)


@dataclass(frozen=True, slots=True)
class Bracket:
    """One maintenance bracket: UM bounds in USD notional, CM bounds in coin quantity (§1.5)."""

    floor: Decimal
    cap: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class CollateralTier:
    """A collateral-rate tier; bounds in USD value by default (basis is UNCONFIRMED, §1.6)."""

    floor: Decimal
    cap: Decimal | None  # None: unbounded
    rate: Decimal


CollateralRate = Decimal | tuple[CollateralTier, ...]  # flat rate, or tiers


@dataclass(frozen=True, slots=True)
class Commission:
    """Fee rates as fractions (0.0005 = 0.05%); projections always charge `taker`."""

    maker: Decimal
    taker: Decimal


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A resting order (futures, conditional or margin) as the exchange reports it.

    `quantity` is what is left to fill (origQty − executedQty); None for closePosition.
    `order_type` is Binance's type (futures: LIMIT, MARKET, STOP, STOP_MARKET, TAKE_PROFIT,
    TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET; margin: LIMIT, MARKET, STOP_LOSS,
    STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT, LIMIT_MAKER).
    """

    market: Market
    symbol: str
    order_id: str
    side: Side
    order_type: str
    quantity: Decimal | None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    position_side: PositionSide = "BOTH"
    reduce_only: bool = False
    client_order_id: str | None = None
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None  # percent, as sent (1 = 1%)
    price_match: bool = False
    side_effect: SideEffect = "NO_SIDE_EFFECT"


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Everything the margin engine reads, as of one moment.

    Futures symbols are unique across UM and CM (BTCUSDT vs BTCUSD_PERP), so marks and brackets
    are keyed by symbol; instruments and commissions by (market, symbol) because a margin pair
    shares its name with the UM contract.
    """

    balances: tuple[Balance, ...] = ()
    positions: tuple[Position, ...] = ()
    instruments: Mapping[SymbolKey, Instrument] = field(default_factory=dict)
    brackets: Mapping[str, tuple[Bracket, ...]] = field(default_factory=dict)
    mark_prices: Mapping[str, Decimal] = field(default_factory=dict)
    index_prices: Mapping[str, Decimal] = field(default_factory=dict)  # asset → USD
    collateral_rates: Mapping[str, CollateralRate] = field(default_factory=dict)
    loan_mm_rates: Mapping[str, Decimal] = field(default_factory=dict)
    commissions: Mapping[SymbolKey, Commission] = field(default_factory=dict)
    um_hedge_mode: bool = False
    cm_hedge_mode: bool = False
    open_orders: tuple[OpenOrder, ...] = ()
    open_loss_usd: Decimal = ZERO  # totalMarginOpenLoss; counted as |value| (§1.3)


def instrument_map(instruments: Iterable[Instrument]) -> dict[SymbolKey, Instrument]:
    """Index instruments by (market, symbol), as `AccountSnapshot` and `parse_intent` expect."""
    return {i.key: i for i in instruments}
