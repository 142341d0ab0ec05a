"""`RiskGate`: the real decision hook — parse, judge (policy checks + projection), reserve,
audit; then settle the reservation and audit the exchange's answer.

    decide(ctx): parse the intent (outside the lock) -> under store.ordering(account):
        view -> Case -> PRE_CHECKS -> project -> POST_CHECKS -> store.reserve(worst-case legs)
        (re-judged against the fresh view on a conflict: at least MAX_TRIES times, and on
        until CONTENTION_BUDGET_S has passed — contention is not the order's fault)
        -> audit decision record (before forwarding) -> Accept(ticket) | Reject
    settle(ctx, accept, outcome): store.settle(2xx accepted | 4xx with code rejected |
        5xx/-1006/-1007/timeout unknown | not sent rejected) -> audit outcome record
    evaluate(...): the same judgement without reserving (what-if, /gateway/v1/check)

Decisions carry their rule and timings (`Verdict`, `Ticket`) for the metrics module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from margin_gate.auth.bots import Bot
from margin_gate.auth.bots import auth_rule
from margin_gate.margin import is_risk_reducing
from margin_gate.margin import parse_intent
from margin_gate.margin import project
from margin_gate.margin.model import SnapshotError
from margin_gate.margin.project import Projection
from margin_gate.margin.routes import ORDER_ROUTES
from margin_gate.margin.routes import OrderIntent
from margin_gate.policy import deny
from margin_gate.policy.checks import POST_CHECKS
from margin_gate.policy.checks import PRE_CHECKS
from margin_gate.policy.checks import Case
from margin_gate.policy.checks import first_refusal
from margin_gate.policy.deny import Refusal
from margin_gate.policy.deny import fmt
from margin_gate.policy.profile import EffectiveProfile
from margin_gate.proxy.gate import Accept
from margin_gate.proxy.gate import Decision
from margin_gate.proxy.gate import OrderContext
from margin_gate.proxy.gate import Outcome
from margin_gate.proxy.gate import Reject
from margin_gate.proxy.gate_audit import GateAudit
from margin_gate.proxy.halts import HaltStore
from margin_gate.proxy.order_ids import client_ids
from margin_gate.proxy.routes import Route
from margin_gate.proxy.settlement import settlements
from margin_gate.state.store import StateStore
from margin_gate.state.types import AccountView
from margin_gate.state.types import StateUnavailable
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params

__all__ = ["CONTENTION_BUDGET_S", "MAX_TRIES", "RiskGate", "Ticket", "Verdict"]

_log = logging.getLogger("margin_gate.gate")
MAX_TRIES = 5
# Replicas hammering one account make each other's RESERVE conflict (exact-content check);
# each retry waits for the mirror to catch up. Refusing after MAX_TRIES would be a false
# rejection caused by load, so the gate keeps trying for this long before it gives up.
CONTENTION_BUDGET_S = 0.25
MANUAL_LIQUIDATION = "sapi.margin.manual_liquidation"
# The margin engine's routes, matched like the route table (case-blind, no trailing slash).
_ENGINE = {(m, p.lower()): p for (m, p) in ORDER_ROUTES}
_MARGIN_ROUTES = frozenset({"margin_order", "spot_order", "margin_oco"})
_LOAN_PATHS = frozenset({"/papi/v1/marginLoan", "/papi/v1/repayLoan", "/papi/v1/margin/repay-debt"})


@dataclass(slots=True)
class Verdict:
    """A judgement: `refusal` None means accept (`warn` when a warning level was crossed)."""

    refusal: Refusal | None
    decision: str  # "accept" | "reject" | "warn"
    rule: str
    floor: Decimal
    unimmr_before: Decimal | None = None
    unimmr_after: Decimal | None = None
    projection: Projection | None = None
    state_age_ms: int | None = None
    in_flight: int = 0
    reservation_ids: tuple[str, ...] = ()
    reserve_us: int | None = None  # time in store.reserve (all attempts)
    params: Params | None = None  # what to forward (client ids injected)
    stream_ids: tuple[str | None, ...] = ()

    def headers(self) -> dict[str, str]:
        h = {"X-Margin-Gate-Decision": self.decision, "X-Margin-Gate-Rule": self.rule}
        if self.unimmr_before is not None:
            h["X-Margin-Gate-UniMMR-Before"] = fmt(self.unimmr_before, 6)
        if self.unimmr_after is not None:
            h["X-Margin-Gate-UniMMR-After"] = fmt(self.unimmr_after, 6)
        return h


@dataclass(slots=True)
class Ticket:
    """What `decide` hands to `settle` inside Accept."""

    verdict: Verdict
    check_us: int
    decided_ns: int = field(default_factory=time.perf_counter_ns)


class RiskGate:
    """DecisionHook + RequestObserver (via GateAudit) over the state store and the policy."""

    def __init__(
        self,
        store: StateStore,
        profiles: Mapping[str, EffectiveProfile],
        halts: HaltStore,
        audit: GateAudit,
    ) -> None:
        self.store = store
        self.profiles = dict(profiles)
        self.halts = halts
        self.audit = audit
        self.decisions = 0  # plain counters for the metrics module
        self.rejections = 0

    # -- Permissions (handler) --

    def money_out(self, bot: Bot) -> bool:
        profile = self.profiles.get(bot.name)
        return profile is not None and profile.allow_money_out

    def endpoint(self, bot: Bot, method: str, path: str) -> bool:
        profile = self.profiles.get(bot.name)
        return profile is not None and profile.allows_endpoint(method, path)

    # -- DecisionHook --

    async def decide(self, ctx: OrderContext) -> Decision:
        started = time.perf_counter_ns()
        verdict = await self.judge(ctx.bot, ctx.method, ctx.path, ctx.route, ctx.params,
                                   ctx.request_id, reserve=True)  # fmt: skip
        if ctx.replay is not None:  # answered now: its round trip ran beside the reservation's
            replayed = await ctx.replay.answer()
            if replayed is not None:
                await self._release(ctx.account, verdict.reservation_ids)
                verdict.reservation_ids = ()
                verdict.refusal = deny.Refusal(auth_rule(replayed), replayed)
                verdict.decision, verdict.rule = "reject", verdict.refusal.rule
        check_us = (time.perf_counter_ns() - started) // 1000
        self.decisions += 1
        refusal = verdict.refusal
        if refusal is None and not self.audit.decision(ctx, verdict):
            await self._release(ctx.account, verdict.reservation_ids)
            verdict.refusal = refusal = deny.audit_write_failed()
            verdict.decision, verdict.rule = "reject", refusal.rule
            return Reject(refusal.error, refusal.rule, verdict.headers(), verdict.reserve_us)
        if refusal is not None:
            self.rejections += 1
            self.audit.rejection(ctx, verdict, refusal, check_us)
            return Reject(refusal.error, refusal.rule, verdict.headers(), verdict.reserve_us)
        ticket = Ticket(verdict, check_us)
        return Accept(ticket, verdict.headers(), verdict.params, verdict.reserve_us)

    async def settle(self, ctx: OrderContext, decision: Accept, outcome: Outcome) -> None:
        ticket = decision.reservation
        assert isinstance(ticket, Ticket)
        upstream_us = (time.perf_counter_ns() - ticket.decided_ns) // 1000
        verdict = ticket.verdict
        try:
            for rid, fate, order_id in settlements(verdict.reservation_ids, outcome):
                await self.store.settle(ctx.account, rid, fate, order_id=order_id)
        except StateUnavailable as exc:
            _log.warning("settle %s: state store unavailable (%s); TTL will expire it",
                         ctx.request_id, exc)  # fmt: skip
        finally:
            self.audit.outcome(ctx, verdict, outcome, ticket.check_us, upstream_us)

    # -- judgement (shared with what-if) --

    async def judge(
        self,
        bot: Bot,
        method: str,
        path: str,
        route: Route,
        params: Params,
        request_id: str,
        *,
        reserve: bool,
    ) -> Verdict:
        profile = self.profiles.get(bot.name)
        if profile is None:  # removed by a reload while this request was in flight
            return Verdict(deny.endpoint_not_allowed(method, path), "reject",
                           "policy.allowed_endpoints", Decimal(0))  # fmt: skip
        account = bot.account
        manual = route.order_kind == MANUAL_LIQUIDATION
        engine_path, engine_params = _engine_route(method, path, params)
        if not reserve:
            view = self.store.view(account)
            intent = _intent(method, engine_path, engine_params, view)
            if isinstance(intent, BinanceError):
                return _refused(deny.Refusal("policy.params", intent), profile, view)
            return self._judge_view(bot, method, path, engine_path, manual, intent, view, profile)
        async with self.store.ordering(account):
            # One view per order, taken once the account is ours (the intent is parsed with
            # its instruments here too: synchronous, so it costs the lock nothing extra with
            # the memory store, and spares a second view()).
            view = self.store.view(account)
            intent = _intent(method, engine_path, engine_params, view)
            if isinstance(intent, BinanceError):
                return _refused(deny.Refusal("policy.params", intent), profile, view)
            return await self._judge_and_reserve(
                bot, method, path, engine_path, manual, intent, params, request_id, profile, view
            )

    async def _judge_and_reserve(
        self,
        bot: Bot,
        method: str,
        path: str,
        engine_path: str | None,
        manual: bool,
        intent: OrderIntent | None,
        params: Params,
        request_id: str,
        profile: EffectiveProfile,
        view: AccountView,
    ) -> Verdict:
        account = bot.account
        started = time.monotonic()
        tries = 0
        while tries < MAX_TRIES or time.monotonic() - started < CONTENTION_BUDGET_S:
            tries += 1
            verdict = self._judge_view(bot, method, path, engine_path, manual, intent, view,
                                       profile)  # fmt: skip
            if verdict.refusal is not None or intent is None:
                return verdict
            ids = client_ids(intent.route, params, request_id)
            verdict.params, verdict.stream_ids = ids.params, ids.stream_ids
            legs = verdict.projection.worst_case_legs if verdict.projection else intent.legs
            per_element = len(ids.reservation_ids) > 1 and len(legs) == len(ids.reservation_ids)
            groups = [legs[i : i + 1] for i in range(len(legs))] if per_element else [legs]
            reservations = [
                self.store.new_reservation(account, rid, g, client_id=cid, bot=bot.name)
                for rid, cid, g in zip(ids.reservation_ids, ids.stream_ids, groups, strict=False)
            ]
            t0 = time.perf_counter_ns()
            try:
                result = await self.store.reserve(account, view.versions, reservations)
            except (StateUnavailable, SnapshotError) as exc:
                if verdict.decision != "reject" and verdict.rule == "policy.risk_reducing":
                    _log.warning("reserve failed (%s); risk-reducing order passes unreserved", exc)
                    return verdict
                refusal = (
                    deny.state_unavailable()
                    if isinstance(exc, StateUnavailable)
                    else deny.unpriced(str(exc))
                )
                return _refused(refusal, profile, view, verdict)
            spent = (time.perf_counter_ns() - t0) // 1000
            verdict.reserve_us = (verdict.reserve_us or 0) + spent
            if result.ok:
                verdict.reservation_ids = tuple(r.id for r in reservations)
                return verdict
            if result.error is not None or result.view is None:
                return _refused(deny.duplicate(ids.reservation_ids[0]), profile, view, verdict)
            view = result.view
        return _refused(deny.contention(tries), profile, view)

    def _judge_view(
        self,
        bot: Bot,
        method: str,
        path: str,
        engine_path: str | None,
        manual: bool,
        intent: OrderIntent | None,
        view: AccountView,
        profile: EffectiveProfile,
    ) -> Verdict:
        """Checks and projection against one view; synchronous (the view's risk is shared)."""
        risk = view.risk
        now, reducing = _direction(view, intent)
        symbol = _symbol(intent)
        case = Case(
            method=method,
            endpoint=path,
            market=_market(intent),
            manual_liquidation=manual,
            projectable=engine_path is not None,
            reducing=reducing,
            repay=intent is not None and intent.kind == "repay",
            halted=self.halts.halted(bot.account, bot.name),
            account_status=view.account_status,
            unimmr_now=now,
            stale_reason=view.stale_reason_for(symbol),
            audit_ok=self.audit.accepting_risk(),
            intent=intent,
            risk=risk,
        )
        verdict = Verdict(None, "accept", "policy.min_unimmr_after", profile.min_unimmr_after)
        verdict.state_age_ms = view.account_age_ms
        verdict.in_flight = len(view.reservations)
        try:
            refusal = first_refusal(PRE_CHECKS, case, profile)
        except SnapshotError as exc:
            refusal = None if reducing else deny.unpriced(str(exc))
        if manual and refusal is None:
            verdict.rule = "policy.manual_liquidation"
            return verdict
        if intent is None and refusal is None:
            refusal = deny.stale(view.stale_reason or "account state not loaded")
        if intent is not None and risk is not None:
            try:
                p = project(risk, intent)
                verdict.projection = p
                verdict.unimmr_before, verdict.unimmr_after = p.unimmr_before, p.unimmr_after
                case.unimmr_after = p.unimmr_after
            except SnapshotError as exc:
                if refusal is None and not reducing:
                    refusal = deny.unpriced(str(exc))
        if refusal is None:
            refusal = first_refusal(POST_CHECKS, case, profile)
        if refusal is not None:
            return _refused(refusal, profile, view, verdict)
        if reducing:
            verdict.rule = "policy.risk_reducing"
        elif (
            profile.warn_unimmr_below is not None
            and verdict.unimmr_after is not None
            and verdict.unimmr_after < profile.warn_unimmr_below
        ):
            verdict.decision, verdict.rule = "warn", "policy.warn_unimmr_below"
        return verdict

    async def _release(self, account: str, ids: tuple[str, ...]) -> None:
        if ids:
            try:
                await self.store.release(account, ids)
            except StateUnavailable:
                _log.warning("release of %s failed; TTL will expire them", ids)


def _intent(
    method: str, engine_path: str | None, engine_params: dict[str, str], view: AccountView
) -> OrderIntent | BinanceError | None:
    """The margin engine's reading of the order (None: not projectable, or no state yet)."""
    if engine_path is None:
        return None
    risk = view.risk
    if risk is None and engine_path not in _LOAN_PATHS:
        return None
    # Loans need no instruments: a repay is judged (and passes) even before state loads.
    instruments = risk.snapshot.instruments if risk is not None else {}
    return parse_intent(method, engine_path, engine_params, instruments)


def _direction(view: AccountView, intent: OrderIntent | None) -> tuple[Decimal | None, bool]:
    """(uniMMR now without pending orders, whether the intent can only reduce risk)."""
    risk = view.risk
    if risk is None:
        return None, intent is not None and intent.kind == "repay"
    try:
        now = risk.current_uni_mmr(False)
    except SnapshotError:
        now = None
    try:
        return now, intent is not None and is_risk_reducing(risk, intent)
    except SnapshotError:
        return now, intent is not None and intent.kind == "repay"


def _refused(
    refusal: Refusal, profile: EffectiveProfile, view: AccountView, base: Verdict | None = None
) -> Verdict:
    v = base or Verdict(None, "reject", refusal.rule, profile.min_unimmr_after)
    v.refusal, v.decision, v.rule = refusal, "reject", refusal.rule
    v.state_age_ms = view.account_age_ms
    v.in_flight = len(view.reservations)
    return v


def _engine_route(method: str, path: str, params: Params) -> tuple[str | None, dict[str, str]]:
    """The margin engine's path for this order endpoint (sapi loans mapped onto PAPI's), and
    the params as a dict (the parser reads each key several times; `Params` scans a tuple)."""
    key = path.lower().rstrip("/")
    found = _ENGINE.get((method, key))
    as_dict = dict(params.items_)
    if found is not None:
        return found, as_dict
    if method == "POST" and key == "/sapi/v1/margin/loan":
        return "/papi/v1/marginLoan", as_dict
    if method == "POST" and key == "/sapi/v1/margin/borrow-repay":
        kind = as_dict.get("type", "").upper()
        if kind in ("BORROW", "REPAY"):
            return ("/papi/v1/marginLoan" if kind == "BORROW" else "/papi/v1/repayLoan"), as_dict
    return None, as_dict


def _symbol(intent: OrderIntent | None) -> str | None:
    if intent is None:
        return None
    for leg in intent.legs:
        symbol = getattr(leg, "symbol", None)
        if symbol is not None and getattr(leg, "market", "") != "MARGIN":
            return str(symbol)
    return None


def _market(intent: OrderIntent | None) -> str | None:
    if intent is None or intent.kind in ("borrow", "repay"):
        return None
    return "MARGIN" if intent.route in _MARGIN_ROUTES else str(intent.legs[0].key[0])
