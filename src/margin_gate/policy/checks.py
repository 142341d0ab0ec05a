"""The decision rules, in their fixed order; each check returns `Refusal | None`, first wins.

    0. permissions   endpoint allow-list, manual liquidation, endpoints we cannot project
    1. kill switch   account or bot halted: only risk-reducing orders pass (cancels never get here)
    2. account       in liquidation (status, or uniMMR < 1.05) -> -3048 for every order entry;
                     REDUCE_ONLY or uniMMR <= 1.20 -> only risk-reducing orders
    3. freshness     stale state (incl. drift with fail_closed_on_drift), audit not accepting risk
    4. static        allowed symbols, max notional, price collar
    5. projection    conditional_mode, projected uniMMR vs min_unimmr_after (then the warning)

Risk-reducing orders and repays pass 1-5 except the liquidation part of 2 (repays pass that too).
Pure: the gate (proxy/risk_gate.py) gathers the facts into a `Case`; `deny` in policy/deny.py
builds every refusal. Thresholds: binance-pm.md §1.8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.routes import OrderIntent
from margin_gate.policy import deny
from margin_gate.policy.deny import Refusal
from margin_gate.policy.limits import collar_breach
from margin_gate.policy.limits import intent_notional
from margin_gate.policy.limits import intent_symbols
from margin_gate.policy.profile import EffectiveProfile

__all__ = [
    "LIQUIDATION_LEVEL",
    "LIQUIDATION_STATUSES",
    "POST_CHECKS",
    "PRE_CHECKS",
    "REDUCE_ONLY_LEVEL",
    "Case",
    "first_refusal",
]

LIQUIDATION_LEVEL = Decimal("1.05")  # §1.8: liquidation below 1.05
REDUCE_ONLY_LEVEL = Decimal("1.20")  # §1.8: reduce-only at or below 1.20
LIQUIDATION_STATUSES = frozenset({"FORCE_LIQUIDATION", "ACTIVE_LIQUIDATION", "BANKRUPTED"})


@dataclass(slots=True)
class Case:
    """The facts one decision is made on. `intent`/`risk` are None for manual liquidation and
    when the state is not loaded; `unimmr_after` is set once the order was projected."""

    method: str
    endpoint: str
    market: str | None  # "UM" | "CM" | "MARGIN" | None (loans, manual liquidation)
    manual_liquidation: bool
    projectable: bool  # False: an order endpoint the margin engine cannot model
    reducing: bool
    repay: bool
    halted: str | None  # "account main (reason)" when a halt applies
    account_status: str | None
    unimmr_now: Decimal | None  # the account now, without pending orders
    stale_reason: str | None
    audit_ok: bool
    intent: OrderIntent | None = None
    risk: AccountRisk | None = None
    unimmr_after: Decimal | None = None
    conditional_refused: bool = False


Check = Callable[[Case, EffectiveProfile], Refusal | None]


def check_permissions(case: Case, p: EffectiveProfile) -> Refusal | None:
    if not p.allows_endpoint(case.method, case.endpoint):
        return deny.endpoint_not_allowed(case.method, case.endpoint)
    if case.manual_liquidation and not p.allow_manual_liquidation:
        return deny.manual_liquidation()
    if not case.projectable and not case.manual_liquidation:
        return deny.unsupported(case.endpoint)
    return None


def check_kill_switch(case: Case, p: EffectiveProfile) -> Refusal | None:
    if case.halted is not None and (case.manual_liquidation or not case.reducing):
        return deny.halted(case.halted)
    return None


def check_account(case: Case, p: EffectiveProfile) -> Refusal | None:
    status, now = case.account_status, case.unimmr_now
    liquidating = status in LIQUIDATION_STATUSES or (now is not None and now < LIQUIDATION_LEVEL)
    if liquidating and not case.repay:
        return deny.liquidation(status, now)
    if case.reducing or case.manual_liquidation:
        return None
    if status == "REDUCE_ONLY" or (now is not None and now <= REDUCE_ONLY_LEVEL):
        return deny.reduce_only(case.market, status, now)
    return None


def check_freshness(case: Case, p: EffectiveProfile) -> Refusal | None:
    if case.reducing or case.manual_liquidation:
        return None
    if case.stale_reason is not None:
        return deny.stale(case.stale_reason)
    if not case.audit_ok:
        return deny.audit_unavailable()
    return None


def check_static(case: Case, p: EffectiveProfile) -> Refusal | None:
    intent, risk = case.intent, case.risk
    if case.reducing or intent is None or risk is None:
        return None
    if p.allowed_symbols is not None:
        for symbol in intent_symbols(intent):
            if symbol not in p.allowed_symbols:
                return deny.symbol_not_allowed(symbol)
    if p.max_order_notional is not None:
        notional = intent_notional(risk, intent)
        if notional > p.max_order_notional:
            return deny.notional(notional, p.max_order_notional)
    fraction = p.collar_fraction
    if fraction is not None:
        breach = collar_breach(risk, intent, fraction)
        if breach is not None:
            return deny.collar(breach, p.price_collar_bps or Decimal(0))
    return None


def check_conditional(case: Case, p: EffectiveProfile) -> Refusal | None:
    intent = case.intent
    if case.reducing or intent is None or not intent.conditional:
        return None
    if p.conditional_mode != "reduce_only":
        return None
    if all(getattr(leg, "reduce_only", False) for leg in intent.legs):
        return None
    return deny.conditional()


def check_buffer(case: Case, p: EffectiveProfile) -> Refusal | None:
    after = case.unimmr_after
    if case.reducing or after is None or after >= p.min_unimmr_after:
        return None
    return deny.buffer(after, p.min_unimmr_after)


PRE_CHECKS: tuple[Check, ...] = (
    check_permissions,
    check_kill_switch,
    check_account,
    check_freshness,
    check_static,
)
POST_CHECKS: tuple[Check, ...] = (check_conditional, check_buffer)


def first_refusal(checks: tuple[Check, ...], case: Case, p: EffectiveProfile) -> Refusal | None:
    """Run `checks` in order; the first refusal wins."""
    for check in checks:
        refusal = check(case, p)
        if refusal is not None:
            return refusal
    return None
