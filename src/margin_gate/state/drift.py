"""Model drift: our uniMMR on a REST load vs the exchange's `/papi/v1/account` uniMMR (§1.7).

Pure. Both sides value the same moment (the load's balances, positions and prices, fetched
together), without pending orders, as the exchange does. `drift = ours / theirs − 1`; beyond
`bound` the account is degraded (docs/state.md "Drift").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margin_gate.margin.decimals import INFINITY
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.margin.unimmr import compute
from margin_gate.state.data import LoadedAccount

__all__ = ["DriftReport", "load_snapshot", "measure"]

BEYOND = "gateway uniMMR {ours} vs exchange {theirs}: drift {drift} beyond {bound}"
MISMATCH = "gateway uniMMR {ours} vs exchange {theirs}"
UNCOMPUTABLE = "gateway cannot value the account: {error}"


@dataclass(frozen=True, slots=True)
class DriftReport:
    gateway_uni_mmr: Decimal | None  # None: no maintenance margin (infinite)
    exchange_uni_mmr: Decimal | None
    drift: Decimal | None  # relative; None when not comparable
    degraded_reason: str | None


def load_snapshot(load: LoadedAccount) -> AccountSnapshot:
    """The REST load as the engine's snapshot (marks: premiumIndex, else positionRisk)."""
    marks = {row.position.symbol: row.mark for row in load.positions if row.mark is not None}
    marks.update({s: t.price for s, t in load.marks.items()})
    s = load.static
    return AccountSnapshot(
        balances=tuple(load.balances.values()),
        positions=tuple(r.position for r in load.positions if r.position.amount != 0),
        instruments=s.instruments,
        brackets=s.brackets,
        mark_prices=marks,
        index_prices={a: t.price for a, t in load.asset_index.items()},
        collateral_rates=s.collateral_rates,
        loan_mm_rates=s.loan_mm_rates,
        commissions=s.commissions,
        um_hedge_mode=s.um_hedge_mode,
        cm_hedge_mode=s.cm_hedge_mode,
        open_loss_usd=load.account.open_loss_usd if load.account is not None else Decimal(0),
    )


def measure(load: LoadedAccount, settings: ProjectionSettings, bound: Decimal) -> DriftReport:
    theirs = load.account.uni_mmr if load.account is not None else None
    try:
        ours_raw = compute(load_snapshot(load), settings).uni_mmr
    except Exception as exc:  # SnapshotError and friends: report, do not crash the sync
        return DriftReport(None, theirs, None, UNCOMPUTABLE.format(error=exc))
    ours = None if ours_raw == INFINITY else ours_raw
    if load.account is None:
        return DriftReport(ours, None, None, None)
    if ours is None or theirs is None:
        if ours is None and theirs is None:
            return DriftReport(None, None, Decimal(0), None)
        return DriftReport(ours, theirs, None, MISMATCH.format(ours=ours, theirs=theirs))
    drift = ours / theirs - 1 if theirs != 0 else INFINITY
    reason = None
    if abs(drift) > bound:
        reason = BEYOND.format(ours=_fmt(ours), theirs=theirs, drift=_fmt(drift), bound=bound)
    return DriftReport(ours, theirs, drift, reason)


def _fmt(value: Decimal) -> str:
    return f"{value:.6g}"
