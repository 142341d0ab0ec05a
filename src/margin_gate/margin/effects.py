"""What a sequence of legs on one symbol (or one loaned asset) does to the account.

A *group* is everything one set of legs can touch: a futures symbol (its positions and its
margin asset), a margin pair (its base and quote balances) or a loaned asset. `group_effect`
fills the legs in order on a copy of the group's state and returns per-asset deltas of equity
and maintenance margin in asset units, so running totals can be patched: `new_total =
old_total − old contribution + new contribution` (design point 3).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal
from typing import NamedTuple
from typing import Protocol

from margin_gate.margin.brackets import BracketTable
from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import EXACT
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.fills import apply_futures_leg
from margin_gate.margin.fills import apply_loan_leg
from margin_gate.margin.fills import apply_margin_leg
from margin_gate.margin.fills import effective_slippage
from margin_gate.margin.fills import round_balance
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Position
from margin_gate.margin.model import PositionSide
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.margin.unimmr import amounts_mm
from margin_gate.margin.unimmr import loan_maint_margin
from margin_gate.margin.unimmr import wallet_equity

__all__ = [
    "EMPTY",
    "Delta",
    "Effect",
    "FuturesState",
    "RiskView",
    "balances_delta",
    "futures_delta",
    "group_effect",
    "rescore",
]

# (equity, um_mm, cm_mm, loan_mm) change of one asset, in that asset's units
Delta = tuple[Decimal, Decimal, Decimal, Decimal]


class FuturesState(Protocol):
    """A futures symbol as the aggregate holds it."""

    instrument: Instrument
    table: BracketTable
    mark: Decimal
    positions: dict[PositionSide, Position]
    pnl: Decimal  # Σ uPnL, margin asset
    mm: Decimal  # maintenance margin, margin asset


class RiskView(Protocol):
    """The read side of `AccountRisk` that effects need (avoids an import cycle)."""

    @property
    def settings(self) -> ProjectionSettings: ...

    def instrument(self, key: GroupKey) -> Instrument: ...

    def futures_state(self, symbol: str) -> FuturesState: ...

    def balance(self, asset: str) -> Balance: ...

    def index_price(self, asset: str) -> Decimal: ...

    def loan_rate(self, asset: str) -> Decimal: ...

    def fee_rate(self, key: GroupKey) -> Decimal: ...


class Effect(NamedTuple):
    """Per-asset deltas of one group's legs, and the state they leave behind.

    `score` = ΔE_usd − b × ΔMM_usd (b = `pending_buffer`): lower is worse (design point 5);
    `rescore` gives it at the current index prices (the deltas do not depend on them).
    `positions`: the futures symbol's positions after; `balances`: margin/loan balances after;
    `wallet`: futures realized PnL − fees booked to the margin asset's UM or CM wallet.
    """

    deltas: Mapping[str, Delta]
    score: Decimal
    positions: tuple[Position, ...] = ()
    balances: tuple[Balance, ...] = ()
    wallet: Decimal = ZERO
    wallet_field: Literal["um_wallet", "cm_wallet"] = "um_wallet"


EMPTY = Effect({}, ZERO)


def rescore(view: RiskView, effect: Effect) -> Decimal:
    """`effect.score` at the current index prices: Σ_a (ΔE_a − b × ΔMM_a) × P_a, with the
    same operations as `futures_delta` / `balances_delta` (the zero MM parts add nothing)."""
    b = view.settings.pending_buffer
    score = ZERO
    for a, d in effect.deltas.items():
        score += (d[0] - b * (d[1] + d[2] + d[3])) * view.index_price(a)
    return score


def group_effect(view: RiskView, key: GroupKey, legs: Sequence[Leg]) -> Effect:
    """Fill `legs` in order on a copy of group `key`'s state; `EMPTY` when there are none."""
    if not legs:
        return EMPTY
    if key[0] == "LOAN":
        return _balances_effect(view, None, [key[1]], legs)
    if key[0] == "MARGIN":
        instrument = view.instrument(key)
        return _balances_effect(
            view, instrument, [instrument.base_asset, instrument.quote_asset], legs
        )
    return _futures_effect(view, key, legs)


def _futures_effect(view: RiskView, key: GroupKey, legs: Sequence[Leg]) -> Effect:
    state = view.futures_state(key[1])
    instrument = state.instrument
    settings = view.settings
    fee = view.fee_rate(key)
    positions = dict(state.positions)
    wallet = d_e = ZERO
    for leg in legs:
        assert isinstance(leg, OrderLeg)
        slip = effective_slippage(leg.side == "BUY", settings.market_slippage, instrument)
        w, e = apply_futures_leg(positions, leg, instrument, state.mark, slip, fee)
        wallet += w
        d_e = EXACT.add(d_e, e)
    amounts = [positions[side].amount for side in sorted(positions)]
    mm = amounts_mm(instrument, amounts, state.mark, state.table, settings)
    d_e = ENGINE_CONTEXT.plus(d_e)
    return futures_delta(view, instrument, d_e, mm - state.mm, tuple(positions.values()), wallet)


def futures_delta(
    view: RiskView,
    instrument: Instrument,
    d_e: Decimal,
    d_mm: Decimal,
    positions: tuple[Position, ...] = (),
    wallet: Decimal = ZERO,
) -> Effect:
    """The Effect of a futures group's equity and MM changes (margin asset units)."""
    asset = instrument.margin_asset
    um = instrument.market == "UM"
    delta: Delta = (d_e, d_mm, ZERO, ZERO) if um else (d_e, ZERO, d_mm, ZERO)
    score = (d_e - view.settings.pending_buffer * d_mm) * view.index_price(asset)
    return Effect({asset: delta}, score, positions, (), wallet, "um_wallet" if um else "cm_wallet")


def _balances_effect(
    view: RiskView, instrument: Instrument | None, assets: list[str], legs: Sequence[Leg]
) -> Effect:
    settings = view.settings
    before = {a: view.balance(a) for a in assets}
    after = dict(before)
    reference = fee = ZERO
    if instrument is not None:
        reference = view.index_price(assets[0]) / view.index_price(assets[1])
        fee = view.fee_rate(instrument.key)
    for leg in legs:
        if isinstance(leg, LoanLeg):
            apply_loan_leg(after, leg)
            continue
        assert instrument is not None
        slip = effective_slippage(leg.side == "BUY", settings.market_slippage, instrument)
        apply_margin_leg(after, leg, instrument, reference, slip, fee)
    return balances_delta(view, before, {a: round_balance(after[a]) for a in assets})


def balances_delta(
    view: RiskView, before: Mapping[str, Balance], after: Mapping[str, Balance]
) -> Effect:
    """The Effect of balances moving from `before` to `after` (same assets, same order)."""
    settings = view.settings
    deltas: dict[str, Delta] = {}
    score = ZERO
    interest = settings.loan_mm_includes_interest
    for a, new in after.items():
        old = before[a]
        rate = view.loan_rate(a)
        d_e = wallet_equity(new) - wallet_equity(old)
        d_loan = loan_maint_margin(new, rate, interest) - loan_maint_margin(old, rate, interest)
        deltas[a] = (d_e, ZERO, ZERO, d_loan)
        score += (d_e - settings.pending_buffer * d_loan) * view.index_price(a)
    return Effect(deltas, score, balances=tuple(after.values()))
