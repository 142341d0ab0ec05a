"""Worst-case post-fill projection of one intent (binance-pm.md §1.10).

The intent's legs are grouped per symbol (or loaned asset). For each group the candidate is
filled, at its worst price, together with the worse side of that group's pending orders, from
the group's running sums (`groups`; O(1) in the number of legs pending there); the group's
cached pending effect is swapped for that, and only the touched assets' terms are recomputed:
`new_total = old_total − old term + new term`. An OCO's alternatives are projected separately
and the lower uniMMR wins.

What only a rejection, a what-if or a test reads is built on first access: the breakdown rows
(from numbers captured during the projection) and the positions / balances after (the naive
leg-by-leg fill, `pending.worst_effect`, which needs the account unchanged since `project`).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import engine_context
from margin_gate.margin.effects import Effect
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Position
from margin_gate.margin.pending import PendingOrder
from margin_gate.margin.pending import worst_effect
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.risk import Reuse
from margin_gate.margin.risk import RowInputs
from margin_gate.margin.risk import asset_row
from margin_gate.margin.routes import OrderIntent
from margin_gate.margin.unimmr import Breakdown
from margin_gate.margin.unimmr import uni_mmr

__all__ = ["CONDITIONAL_REFUSED", "Projection", "ProjectionExpired", "project", "resolve"]

CONDITIONAL_REFUSED = (
    "conditional orders must be reduceOnly or closePosition (conditional_mode=reduce_only)"
)
EXPIRED = (
    "positions_after / balances_after are computed on first access and need the AccountRisk "
    "unchanged since project() (version {then}, now {now}); read them before updating it"
)


class ProjectionExpired(RuntimeError):
    """A projection's positions/balances were first read after its AccountRisk changed."""


class Projection:
    """The account after the intent fills at its worst price, with pending orders' worst side.

    `unimmr_before`: now, with pending orders (what the account is without this intent).
    `unimmr_after`, `equity_after`, `adjusted_equity_after`, `maint_margin_after`: after.
    `breakdown`: totals after, with rows for the touched assets only (built on first access).
    `worst_case_legs`: the legs that were projected (OCO: the worse alternative); reserve these
    as the in-flight `PendingOrder` (`as_pending`).
    `positions_after` / `balances_after`: the touched futures symbols' positions and the
    touched balances in the projected scenario (pending fills included). Computed on first
    access by filling leg by leg (O(legs pending on the touched groups)); that first access
    must come before the AccountRisk changes (else `ProjectionExpired`).
    `refusal`: set when settings forbid the intent outright (conditional_mode).
    """

    __slots__ = (
        "_breakdown",
        "_by_group",
        "_details",
        "_open_loss",
        "_replaced",
        "_reuse",
        "_risk",
        "_rows",
        "_totals",
        "_version",
        "adjusted_equity_after",
        "equity_after",
        "maint_margin_after",
        "refusal",
        "unimmr_after",
        "unimmr_before",
        "worst_case_legs",
    )

    def __init__(
        self,
        risk: AccountRisk,
        before: Decimal,
        legs: tuple[Leg, ...],
        by_group: dict[GroupKey, list[Leg]],
        replaced: str | None,
        totals: list[Decimal],
        rows: list[RowInputs],
        refusal: str | None,
        reuse: dict[GroupKey, Reuse],
    ) -> None:
        loss = risk.open_loss_usd
        adjusted = totals[1] - loss
        mm = totals[2] + totals[3] + totals[4]
        self.unimmr_before = before
        self.unimmr_after = uni_mmr(adjusted, mm)
        self.equity_after = ENGINE_CONTEXT.plus(totals[0])
        self.adjusted_equity_after = adjusted
        self.maint_margin_after = mm
        self.worst_case_legs = legs
        self.refusal = refusal
        self._risk = risk
        self._version = risk.version
        self._by_group = by_group
        self._replaced = replaced
        self._totals = totals
        self._rows = rows
        self._open_loss = loss
        self._reuse = reuse
        self._breakdown: Breakdown | None = None
        self._details: tuple[tuple[Position, ...], tuple[Balance, ...]] | None = None

    @property
    def breakdown(self) -> Breakdown:
        if self._breakdown is None:
            self._breakdown = _summarize(self._risk, self._totals, self._rows, self._open_loss)
        return self._breakdown

    @property
    def positions_after(self) -> tuple[Position, ...]:
        return self._fill()[0]

    @property
    def balances_after(self) -> tuple[Balance, ...]:
        return self._fill()[1]

    def as_pending(
        self,
        key: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
        *,
        in_flight: bool = True,
    ) -> PendingOrder:
        """The in-flight reservation of the projected legs, for `AccountRisk.add_pending`."""
        return PendingOrder(key, self.worst_case_legs, order_id, client_order_id, in_flight)

    def reuse_for(self, risk: AccountRisk, order: PendingOrder) -> dict[GroupKey, Reuse] | None:
        """What `risk.add_pending(order)` may take from this projection: the projected legs'
        prices and, per futures group whose projected legs are all plain (uncapped, with a
        quantity) and on one side, that side's scenario — which is exactly that side's
        pending scenario once the legs are pending. Only when `order` reserves exactly these
        legs, nothing replaced, on the same AccountRisk unchanged since (else None)."""
        if (
            self._risk is not risk
            or self._version != risk.version
            or self._replaced is not None
            or (order.legs is not self.worst_case_legs and order.legs != self.worst_case_legs)
        ):
            return None
        return self._reuse

    def _fill(self) -> tuple[tuple[Position, ...], tuple[Balance, ...]]:
        if self._details is None:
            risk = self._risk
            if risk.version != self._version:
                raise ProjectionExpired(EXPIRED.format(then=self._version, now=risk.version))
            self._details = _details(risk, self._by_group, self._replaced)
        return self._details

    def _key(self) -> tuple[object, ...]:
        return (
            self.unimmr_before,
            self.unimmr_after,
            self.equity_after,
            self.adjusted_equity_after,
            self.maint_margin_after,
            self.breakdown,
            self.worst_case_legs,
            self.positions_after,
            self.balances_after,
            self.refusal,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Projection):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Projection(unimmr_before={self.unimmr_before!r}, "
            f"unimmr_after={self.unimmr_after!r}, equity_after={self.equity_after!r}, "
            f"adjusted_equity_after={self.adjusted_equity_after!r}, "
            f"maint_margin_after={self.maint_margin_after!r}, "
            f"worst_case_legs={self.worst_case_legs!r}, refusal={self.refusal!r})"
        )


@engine_context
def _summarize(
    risk: AccountRisk, totals: list[Decimal], rows: list[RowInputs], open_loss: Decimal
) -> Breakdown:
    return risk.summarize(totals, [asset_row(r) for r in rows], open_loss)


@engine_context
def _details(
    risk: AccountRisk, by_group: dict[GroupKey, list[Leg]], replaced: str | None
) -> tuple[tuple[Position, ...], tuple[Balance, ...]]:
    """The projected scenario filled leg by leg (the reference computation): positions and
    balances after."""
    effects = {
        key: worst_effect(risk, key, risk.pending_legs(key, replaced), candidate)
        for key, candidate in by_group.items()
    }
    positions = tuple(p for e in effects.values() for p in e.positions)
    return positions, _balances_after(risk, effects)


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

    Cost: O(legs of the intent), independent of the number of positions, assets and pending
    orders (see `groups` for the few leg kinds that are filled one by one). Raises
    SnapshotError when a needed mark, index price, bracket table or instrument is missing: the
    caller must fail closed.
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
    risk.remember(best)
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
        found = by_group.get(leg.key)
        if found is None:
            by_group[leg.key] = [leg]
        else:
            found.append(leg)
    if replaced is not None:
        for key in risk.pending.groups_of(replaced):
            by_group.setdefault(key, [])
    effects: dict[GroupKey, Effect] = {}
    reuse: dict[GroupKey, Reuse] = {}
    for key, candidate in by_group.items():
        effect, buy, sell, prepared = risk.worst_sides(key, candidate, replaced)
        effects[key] = effect
        if prepared is not None and replaced is None:
            side = prepared.one_side
            chosen = None
            if side is not None:
                chosen = effect if buy is None else (buy if side else sell)
            reuse[key] = (side, chosen, prepared.prices)
    totals, rows = risk.evaluate(effects)
    return Projection(risk, before, legs, by_group, replaced, totals, rows, refusal, reuse)


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
