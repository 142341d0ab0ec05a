"""Worst-case post-fill projection of one intent (binance-pm.md §1.10).

The intent's legs are grouped per symbol (or loaned asset). For each group the candidate is
filled, at its worst price, together with the worse side of that group's pending orders
(`pending.worst_effect`); the group's cached pending effect is swapped for that, and only the
touched assets' terms are recomputed: `new_total = old_total − old term + new term`.
An OCO's alternatives are projected separately and the lower uniMMR wins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from margin_gate.margin.decimals import engine_context
from margin_gate.margin.effects import Effect
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Position
from margin_gate.margin.pending import worst_effect
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.routes import OrderIntent
from margin_gate.margin.unimmr import Breakdown

__all__ = ["CONDITIONAL_REFUSED", "Projection", "project", "resolve"]

CONDITIONAL_REFUSED = (
    "conditional orders must be reduceOnly or closePosition (conditional_mode=reduce_only)"
)


@dataclass(frozen=True, slots=True)
class Projection:
    """The account after the intent fills at its worst price, with pending orders' worst side.

    `unimmr_before`: now, with pending orders (what the account is without this intent).
    `breakdown`: totals after, with rows for the touched assets only.
    `worst_case_legs`: the legs that were projected (OCO: the worse alternative); reserve these
    as the in-flight `PendingOrder`.
    `positions_after` / `balances_after`: the touched futures symbols' positions and the
    touched balances in the projected scenario (pending fills included).
    `refusal`: set when settings forbid the intent outright (conditional_mode).
    """

    unimmr_before: Decimal
    unimmr_after: Decimal
    equity_after: Decimal
    adjusted_equity_after: Decimal
    maint_margin_after: Decimal
    breakdown: Breakdown
    worst_case_legs: tuple[Leg, ...]
    positions_after: tuple[Position, ...]
    balances_after: tuple[Balance, ...]
    refusal: str | None = None


def resolve(
    risk: AccountRisk, intent: OrderIntent
) -> tuple[tuple[tuple[Leg, ...], ...], str | None]:
    """The intent's alternatives and the pending key it replaces (modify), if known.

    A modify keeps the original order's positionSide and reduceOnly (PUT carries neither);
    when the original is unknown the new order counts in full, as a plain order.
    """
    if intent.replaces is None:
        return intent.alternatives, None
    replaced = risk.find_pending(intent.replaces)
    if replaced is None:
        return intent.alternatives, None
    order = risk.pending.order(replaced)
    assert order is not None  # found by a ref: the book indexes orders led by an OrderLeg
    old = order.legs[0]
    assert isinstance(old, OrderLeg)
    alternatives = tuple(
        tuple(
            dataclasses.replace(leg, position_side=old.position_side, reduce_only=old.reduce_only)
            if isinstance(leg, OrderLeg)
            else leg
            for leg in alt
        )
        for alt in intent.alternatives
    )
    return alternatives, replaced


@engine_context
def project(risk: AccountRisk, intent: OrderIntent) -> Projection:
    """Project `intent` as fully filled at its worst price (§1.10 steps 2–6).

    Cost: O(legs pending on the intent's symbols); independent of the number of positions,
    assets and other symbols' orders. Raises SnapshotError when a needed mark, index price,
    bracket table or instrument is missing: the caller must fail closed.
    """
    refusal = None
    if (
        intent.conditional
        and risk.settings.conditional_mode == "reduce_only"
        and not all(isinstance(leg, OrderLeg) and leg.reduce_only for leg in intent.legs)
    ):
        refusal = CONDITIONAL_REFUSED
    alternatives, replaced = resolve(risk, intent)
    before = risk.current_uni_mmr(True)
    best: Projection | None = None
    for legs in alternatives:
        candidate = _project_legs(risk, legs, replaced, before, refusal)
        if best is None or candidate.unimmr_after < best.unimmr_after:
            best = candidate
    assert best is not None
    return best


def _project_legs(
    risk: AccountRisk,
    legs: tuple[Leg, ...],
    replaced: str | None,
    before: Decimal,
    refusal: str | None,
) -> Projection:
    by_group: dict[GroupKey, list[Leg]] = {}
    for leg in legs:
        by_group.setdefault(leg.key, []).append(leg)
    if replaced is not None:
        for key in risk.pending.groups_of(replaced):
            by_group.setdefault(key, [])
    effects = {
        key: worst_effect(risk, key, risk.pending_legs(key, replaced), candidate)
        for key, candidate in by_group.items()
    }
    totals, rows = risk.evaluate(effects)
    after = risk.summarize(totals, rows)
    return Projection(
        before,
        after.uni_mmr,
        after.equity_usd,
        after.adjusted_equity_usd,
        after.maint_margin_usd,
        after,
        legs,
        tuple(p for e in effects.values() for p in e.positions),
        _balances_after(risk, effects),
        refusal,
    )


def _balances_after(risk: AccountRisk, effects: dict[GroupKey, Effect]) -> tuple[Balance, ...]:
    out: dict[str, Balance] = {}
    for effect in effects.values():
        for b in effect.balances:
            out[b.asset] = b
        if effect.wallet and effect.deltas:
            (asset,) = effect.deltas
            b = out.get(asset) or risk.balance(asset)
            um, cm = b.um_wallet, b.cm_wallet
            if effect.wallet_field == "um_wallet":
                um += effect.wallet
            else:
                cm += effect.wallet
            out[asset] = Balance(
                asset,
                b.cross_margin_asset,
                b.cross_margin_borrowed,
                b.cross_margin_interest,
                um,
                cm,
                b.cross_margin_locked,
            )
    return tuple(out[name] for name in sorted(out))
