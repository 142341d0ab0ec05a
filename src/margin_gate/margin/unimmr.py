"""uniMMR = Σ adjusted equity / Σ maintenance margin, with the parts that explain it.

Formulas (binance-pm.md §1.1–§1.4):
- `E_a = crossMarginAsset − borrowed − interest + umWallet + cmWallet + Σ uPnL` (asset units)
- UM uPnL `amount × (mark − entry)`; CM (inverse) uPnL `contracts × size × (1/entry − 1/mark)`
- `adjusted = Σ_a min(E_a·P_a·CR_a, E_a·P_a) − |openLoss|` (USD)
- `MM = Σ_a (futuresMM_a + loan_a × loanRate_a) × P_a` (USD); uniMMR = adjusted / MM, ∞ if MM is 0

`compute()` is the plain, non-incremental reference: `AccountRisk` keeps the same numbers as
running totals and the tests hold the two against each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from margin_gate.margin.brackets import BracketTable
from margin_gate.margin.brackets import cm_notional
from margin_gate.margin.brackets import maint_margin
from margin_gate.margin.brackets import um_notional
from margin_gate.margin.collateral import haircut_usd
from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.model import Balance
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Position
from margin_gate.margin.model import SnapshotError
from margin_gate.margin.settings import ProjectionSettings

__all__ = [
    "AssetRow",
    "Breakdown",
    "Terms",
    "amounts_mm",
    "asset_terms",
    "cm_unrealized_pnl",
    "compute",
    "loan_maint_margin",
    "symbol_mm",
    "symbol_pnl_and_mm",
    "um_unrealized_pnl",
    "uni_mmr",
    "wallet_equity",
]

NO_PRICE = "no index price for asset {asset}"
NO_MARK = "no mark price for {symbol}"
NO_BRACKETS = "no brackets for {symbol}"
NO_INSTRUMENT = "no instrument for {market} {symbol}"

# (equity_usd, adjusted_equity_usd, um_mm_usd, cm_mm_usd, loan_mm_usd) of one asset
Terms = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
ZERO_TERMS: Terms = (ZERO, ZERO, ZERO, ZERO, ZERO)


@dataclass(frozen=True, slots=True)
class AssetRow:
    """One asset's part of uniMMR: native amounts, then USD at its index price."""

    asset: str
    equity: Decimal  # E_a, asset units
    index_price: Decimal  # USD per unit
    equity_usd: Decimal  # E_a × P_a
    adjusted_equity_usd: Decimal  # after collateral haircut
    um_maint_margin: Decimal  # asset units
    cm_maint_margin: Decimal  # asset units
    loan_maint_margin: Decimal  # asset units
    maint_margin_usd: Decimal


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Totals in USD, MM by component, and per-asset rows (all assets, or the touched ones)."""

    equity_usd: Decimal
    adjusted_equity_usd: Decimal  # after haircuts and open loss
    open_loss_usd: Decimal
    maint_margin_usd: Decimal
    um_maint_margin_usd: Decimal
    cm_maint_margin_usd: Decimal
    loan_maint_margin_usd: Decimal
    uni_mmr: Decimal
    assets: tuple[AssetRow, ...]


def um_unrealized_pnl(amount: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    """UM uPnL in the margin asset: `amount × (mark − entry)` (§1.9 check: 600, −414)."""
    return amount * (mark - entry)


def cm_unrealized_pnl(
    contracts: Decimal, contract_size: Decimal, entry: Decimal, mark: Decimal
) -> Decimal:
    """CM uPnL in coin: `contracts × size × (1/entry − 1/mark)`, one division (§1.9: −0.05)."""
    if contracts == ZERO:
        return ZERO
    return contracts * contract_size * (mark - entry) / (entry * mark)


def symbol_pnl_and_mm(
    instrument: Instrument,
    positions: Iterable[Position],
    mark: Decimal,
    table: BracketTable,
    settings: ProjectionSettings,
) -> tuple[Decimal, Decimal]:
    """uPnL and MM of one symbol's positions, both in its margin asset (§1.4)."""
    positions = tuple(positions)
    if instrument.market == "UM":
        pnl = sum((um_unrealized_pnl(p.amount, p.entry_price, mark) for p in positions), ZERO)
    else:
        size = instrument.contract_size
        pnl = sum((cm_unrealized_pnl(p.amount, size, p.entry_price, mark) for p in positions), ZERO)
    return pnl, symbol_mm(instrument, positions, mark, table, settings)


def symbol_mm(
    instrument: Instrument,
    positions: Iterable[Position],
    mark: Decimal,
    table: BracketTable,
    settings: ProjectionSettings,
) -> Decimal:
    """Maintenance margin of one symbol's positions in its margin asset (§1.4).

    Hedge mode: LONG and SHORT legs are bracketed separately ("per_leg") or as one notional
    |long| + |short| ("combined"); one-way mode has one position, where both agree.
    """
    return amounts_mm(instrument, [p.amount for p in positions], mark, table, settings)


def amounts_mm(
    instrument: Instrument,
    amounts: Iterable[Decimal],
    mark: Decimal,
    table: BracketTable,
    settings: ProjectionSettings,
) -> Decimal:
    """`symbol_mm` of positions given by their signed amounts (summed in the given order)."""
    if instrument.market == "UM":
        notionals = [um_notional(a, mark) for a in amounts]
    else:
        size = instrument.contract_size
        notionals = [cm_notional(a, size, mark) for a in amounts]
    boundary = settings.bracket_boundary
    if len(notionals) == 1:  # one-way mode: the sums below with one term, without a generator
        return ZERO + maint_margin(ZERO + notionals[0], table, boundary)
    if settings.hedge_bracketing == "combined":
        return maint_margin(sum(notionals, ZERO), table, boundary)
    return sum((maint_margin(n, table, boundary) for n in notionals), ZERO)


def wallet_equity(balance: Balance) -> Decimal:
    """The balance part of E_a: `asset − borrowed − interest + umWallet + cmWallet` (§1.1)."""
    return (
        balance.cross_margin_asset
        - balance.cross_margin_borrowed
        - balance.cross_margin_interest
        + balance.um_wallet
        + balance.cm_wallet
    )


def loan_maint_margin(balance: Balance, rate: Decimal, include_interest: bool) -> Decimal:
    """Margin-loan MM in asset units: `(borrowed [+ interest]) × rate` (§1.4; interest is
    UNCONFIRMED, setting `loan_mm_includes_interest`)."""
    loan = balance.cross_margin_borrowed
    if include_interest:
        loan += balance.cross_margin_interest
    return loan * rate


def asset_terms(
    equity: Decimal,
    um_mm: Decimal,
    cm_mm: Decimal,
    loan_mm: Decimal,
    price: Decimal,
    rate: CollateralRate,
    settings: ProjectionSettings,
) -> Terms:
    """One asset's USD terms: (E·P, haircut(E), umMM·P, cmMM·P, loanMM·P) (§1.1)."""
    return (
        equity * price,
        haircut_usd(equity, price, rate, settings.collateral_tier_basis),
        um_mm * price,
        cm_mm * price,
        loan_mm * price,
    )


def uni_mmr(adjusted_equity_usd: Decimal, maint_margin_usd: Decimal) -> Decimal:
    """`adjusted / MM`; `Decimal('Infinity')` when MM ≤ 0 (no positions, no loans) (§1.1)."""
    if maint_margin_usd <= ZERO:
        return INFINITY
    return adjusted_equity_usd / maint_margin_usd


def _price(prices: Mapping[str, Decimal], asset: str) -> Decimal:
    try:
        return prices[asset]
    except KeyError:
        raise SnapshotError(NO_PRICE.format(asset=asset)) from None


@engine_context
def compute(snapshot: AccountSnapshot, settings: ProjectionSettings) -> Breakdown:
    """uniMMR of `snapshot` from scratch, O(positions + assets): the reference for the tests.

    Resting orders are not part of uniMMR (§1.3); only `open_loss_usd` stands for them.
    """
    wallet: dict[str, Decimal] = {}
    loan_mm: dict[str, Decimal] = {}
    for b in snapshot.balances:
        loan_rate = snapshot.loan_mm_rates.get(b.asset, settings.default_loan_mm_rate)
        wallet[b.asset] = wallet_equity(b)
        loan_mm[b.asset] = loan_maint_margin(b, loan_rate, settings.loan_mm_includes_interest)
    by_symbol: dict[tuple[FuturesMarket, str], list[Position]] = {}
    for p in snapshot.positions:
        by_symbol.setdefault((p.market, p.symbol), []).append(p)
    pnl: dict[str, Decimal] = {}
    um_mm: dict[str, Decimal] = {}
    cm_mm: dict[str, Decimal] = {}
    for (market, symbol), positions in sorted(by_symbol.items()):
        instrument = snapshot.instruments.get((market, symbol))
        if instrument is None:
            raise SnapshotError(NO_INSTRUMENT.format(market=market, symbol=symbol))
        if symbol not in snapshot.mark_prices:
            raise SnapshotError(NO_MARK.format(symbol=symbol))
        if symbol not in snapshot.brackets:
            raise SnapshotError(NO_BRACKETS.format(symbol=symbol))
        table = BracketTable.of(symbol, snapshot.brackets[symbol])
        mark = snapshot.mark_prices[symbol]
        p_pnl, p_mm = symbol_pnl_and_mm(instrument, positions, mark, table, settings)
        a = instrument.margin_asset
        pnl[a] = pnl.get(a, ZERO) + p_pnl
        mm = um_mm if market == "UM" else cm_mm
        mm[a] = mm.get(a, ZERO) + p_mm
    rows: list[AssetRow] = []
    totals = [ZERO, ZERO, ZERO, ZERO, ZERO]
    for asset in sorted(wallet.keys() | pnl.keys() | um_mm.keys() | cm_mm.keys()):
        e = wallet.get(asset, ZERO) + pnl.get(asset, ZERO)
        u, c, lo = um_mm.get(asset, ZERO), cm_mm.get(asset, ZERO), loan_mm.get(asset, ZERO)
        if e == ZERO and u == ZERO and c == ZERO and lo == ZERO:
            continue
        price = _price(snapshot.index_prices, asset)
        rate = snapshot.collateral_rates.get(asset, settings.default_collateral_rate)
        terms = asset_terms(e, u, c, lo, price, rate, settings)
        for i, t in enumerate(terms):
            totals[i] += t
        rows.append(AssetRow(asset, e, price, terms[0], terms[1], u, c, lo, sum(terms[2:], ZERO)))
    open_loss = abs(snapshot.open_loss_usd)
    adjusted = totals[1] - open_loss
    mm_total = totals[2] + totals[3] + totals[4]
    return Breakdown(
        totals[0],
        adjusted,
        open_loss,
        mm_total,
        totals[2],
        totals[3],
        totals[4],
        uni_mmr(adjusted, mm_total),
        tuple(rows),
    )
