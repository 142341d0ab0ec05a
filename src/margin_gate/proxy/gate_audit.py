"""The gate's audit records: decision before forwarding, outcome before the bot's answer, and
the `RequestObserver` that records every refusal the gate did not see (auth, routing, bad input)
plus cancels, money-out calls and (with `[audit] passthrough`) pass-through reads.

Exactly one decision and one outcome record per request: requests the `RiskGate` recorded are
remembered by id until the observer sees them. Record schema: docs/audit.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from margin_gate.audit import AuditLog
from margin_gate.audit import AuditWriteError
from margin_gate.audit.log import AuditClosedError
from margin_gate.policy.deny import Refusal
from margin_gate.proxy.gate import OrderContext
from margin_gate.proxy.gate import Outcome
from margin_gate.proxy.gate import RequestRecord

if TYPE_CHECKING:
    from margin_gate.proxy.risk_gate import Verdict

__all__ = ["GateAudit"]

_log = logging.getLogger("margin_gate.audit")
_ALWAYS = frozenset({"cancel", "money_out", "order"})


class GateAudit:
    """Writes the gate's records to an `AuditLog` (None: records nothing, accepts risk)."""

    def __init__(self, log: AuditLog | None, *, passthrough: bool = False) -> None:
        self.log = log
        self.passthrough = passthrough
        self._recorded: set[str] = set()
        self.failures = 0

    def accepting_risk(self) -> bool:
        return self.log is None or self.log.accepting_risk()

    def _write(self, record: dict[str, Any]) -> bool:
        if self.log is None:
            return True
        try:
            self.log.write(record)  # type: ignore[arg-type]
        except (AuditWriteError, AuditClosedError) as exc:
            self.failures += 1
            _log.error("audit write failed for %s: %s", record.get("request_id"), exc)
            return False
        return True

    def _write_both(self, decision: dict[str, Any], outcome: dict[str, Any]) -> None:
        """A refused request's two records, with one append (both or neither stored)."""
        if self.log is None:
            return
        try:
            self.log.write_all([decision, outcome])  # type: ignore[list-item]
        except (AuditWriteError, AuditClosedError) as exc:
            self.failures += 2
            _log.error("audit write failed for %s: %s", decision.get("request_id"), exc)

    # Records are built as one dict literal each (no shared base dict copied and updated):
    # two per order, on the hot path.

    def _decision(
        self, ctx: OrderContext, v: Verdict, code: int | None, msg: str | None
    ) -> dict[str, Any]:
        after = v.unimmr_after
        before = v.unimmr_before
        rec: dict[str, Any] = {
            "kind": "decision",
            "request_id": ctx.request_id,
            "bot": ctx.bot.name,
            "account": ctx.account,
            "method": ctx.method,
            "endpoint": ctx.path,
            "params": ctx.params.items_,
            "decision": v.decision,
            "rule": v.rule,
            "code": code,
            "msg": msg,
            "unimmr_before": None if before is None else str(before),
            "unimmr_after": None if after is None else str(after),
            "buffer": None if after is None else str(after - v.floor),
            "state_age_ms": v.state_age_ms,
            "in_flight": v.in_flight,
        }
        self._recorded.add(ctx.request_id)
        return rec

    def decision(self, ctx: OrderContext, v: Verdict) -> bool:
        """The accept/warn record, before forwarding. False: not logged, do not forward."""
        return self._write(self._decision(ctx, v, None, None))

    def rejection(self, ctx: OrderContext, v: Verdict, refusal: Refusal, check_us: int) -> None:
        """A refused order: its decision record and the outcome (what the bot was told)."""
        error = refusal.error
        self._write_both(
            self._decision(ctx, v, error.code, error.msg),
            {
                "kind": "outcome",
                "request_id": ctx.request_id,
                "bot": ctx.bot.name,
                "account": ctx.account,
                "method": ctx.method,
                "endpoint": ctx.path,
                "decision": "reject",
                "rule": v.rule,
                "code": error.code,
                "msg": error.msg,
                "exchange_status": None,
                "latency_check_us": check_us,
            },
        )

    def outcome(
        self, ctx: OrderContext, v: Verdict, out: Outcome, check_us: int, upstream_us: int
    ) -> None:
        answered = out.fate == "answered"
        ids = v.stream_ids
        rec: dict[str, Any] = {
            "kind": "outcome",
            "request_id": ctx.request_id,
            "bot": ctx.bot.name,
            "account": ctx.account,
            "method": ctx.method,
            "endpoint": ctx.path,
            "decision": v.decision,
            "rule": v.rule,
            "exchange_status": out.status if answered else None,
            "exchange_code": out.code,
            "order_id": out.order_id,
            "client_order_id": ids[0] if len(ids) == 1 else None,
            "latency_check_us": check_us,
            "latency_upstream_us": upstream_us,
            "msg": None if answered else f"upstream: {out.fate}",
        }
        if len(ids) > 1:
            rec["params"] = {"client_order_ids": ",".join(str(i) for i in ids)}
        self._write(rec)

    # -- RequestObserver --

    def observe(self, record: RequestRecord) -> None:
        if record.request_id in self._recorded:
            self._recorded.discard(record.request_id)
            return
        if self.log is None:
            return
        refused = record.fate == "refused" and record.rule is not None
        kind = record.route.kind if record.route is not None else None
        if not refused and kind not in _ALWAYS and not self.passthrough:
            return
        decision = "reject" if refused else ("pass" if kind == "other" else "accept")
        base = {
            "request_id": record.request_id,
            "method": record.method,
            "endpoint": record.path,
        }
        if record.bot is not None:
            base["bot"] = record.bot
        if record.account is not None:
            base["account"] = record.account
        self._write_both(
            {**base, "kind": "decision", "params": record.params or {},
             "decision": decision, "rule": record.rule, "code": record.code,
             "msg": record.msg, "ts_ms": record.received_at_ms},
            {**base, "kind": "outcome", "decision": decision, "rule": record.rule,
             "code": record.code, "msg": record.msg,
             "exchange_status": None if refused else record.status,
             "latency_check_us": int(record.duration_ms * 1000)},
        )  # fmt: skip
