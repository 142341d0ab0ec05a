"""Account status from uniMMR bands, and how uniMMR is printed (binance-pm.md §1.7-§1.8).

Bands (thresholds from `RiskSettings`, UNCONFIRMED for PAPI, hence configurable):

    uniMMR < liquidation (1.05)      FORCE_LIQUIDATION   liquidation starts
    uniMMR <= reduce_only (1.20)     REDUCE_ONLY         risk-increasing orders refused
    uniMMR <= margin_call (1.5)      MARGIN_CALL         informational
    otherwise (or no MM at all)      NORMAL
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from margin_gate.paper.numbers import fmt8
from margin_gate.paper.schema import RiskSettings
from margin_gate.paper.unimmr import RiskSnapshot

__all__ = ["RISK_LEVEL_STATUSES", "Status", "band", "uni_mmr_text"]

Status = Literal["NORMAL", "MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION", "BANKRUPTED"]
# Statuses announced with a riskLevelChange event (§4.2); a return to NORMAL is not.
RISK_LEVEL_STATUSES = frozenset({"MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION"})


def band(uni_mmr: Decimal | None, settings: RiskSettings) -> Status:
    if uni_mmr is None:
        return "NORMAL"
    if uni_mmr < settings.liquidation:
        return "FORCE_LIQUIDATION"
    if uni_mmr <= settings.reduce_only:
        return "REDUCE_ONLY"
    if uni_mmr <= settings.margin_call:
        return "MARGIN_CALL"
    return "NORMAL"


def uni_mmr_text(snapshot: RiskSnapshot, settings: RiskSettings) -> str:
    """8 decimals like Binance; with no maintenance margin, the configured sentinel.

    Two independent third-party integrations record the live PAPI answering "99999999" when
    accountMaintMargin is 0 (UNCONFIRMED by Binance's docs), so that is the default.
    """
    if snapshot.uni_mmr is None:
        return settings.no_maint_margin_uni_mmr
    return fmt8(snapshot.uni_mmr)
