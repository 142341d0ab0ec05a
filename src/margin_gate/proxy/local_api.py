"""margin-gate's own bot endpoints, signed like any bot request (docs/policy.md):

POST /gateway/v1/check     what-if: `endpoint`, optional `method` (POST), the order's params
                           -> {"decision","rule","code","msg","unimmr_before","unimmr_after",
                               "buffer","equity_after","maint_margin_after","state_age_ms"}
                           judged by the same code as enforcement; nothing reserved or sent
GET  /gateway/v1/account   the bot's account: uniMMR, status, buffers, in-flight orders,
                           state age, stale / degraded reasons, halts
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import orjson

from margin_gate.auth.bots import Bot
from margin_gate.policy.deny import fmt
from margin_gate.proxy.errors import JSON_CONTENT_TYPE
from margin_gate.proxy.errors import error_answer
from margin_gate.proxy.risk_gate import RiskGate
from margin_gate.proxy.routes import check_path
from margin_gate.proxy.routes import classify
from margin_gate.wire.errors import MANDATORY_PARAM
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params

__all__ = ["BotApi", "json_answer"]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_OWN = frozenset({"endpoint", "method", "timestamp", "recvWindow", "signature"})
UNKNOWN_ENDPOINT = BinanceError(-1002, "margin-gate: unknown /gateway/v1 endpoint.", 404)


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    h = [(b"content-type", JSON_CONTENT_TYPE)]
    for k, v in (headers or {}).items():
        h.append((k.lower().encode("latin-1"), v.encode("latin-1")))
    return status, h, orjson.dumps(payload)


def _num(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value, 8)


class BotApi:
    """Answers /gateway/v1/* for an authenticated bot."""

    def __init__(self, gate: RiskGate) -> None:
        self.gate = gate
        self.checks = 0  # plain counter for metrics

    async def handle(
        self, bot: Bot, method: str, path: str, params: Params, request_id: str
    ) -> Answer:
        key = path.lower().rstrip("/")
        if method == "POST" and key == "/gateway/v1/check":
            return await self.check(bot, params, request_id)
        if method == "GET" and key == "/gateway/v1/account":
            return self.account(bot)
        return error_answer(UNKNOWN_ENDPOINT)

    async def check(self, bot: Bot, params: Params, request_id: str) -> Answer:
        self.checks += 1
        endpoint = params.get("endpoint", "")
        method = params.get("method", "POST").upper()
        path = check_path(endpoint.encode("ascii", "replace")) if endpoint else None
        if path is None:
            return error_answer(MANDATORY_PARAM.with_msg("margin-gate: 'endpoint' (a path)."))
        route = classify(method, path)
        if route.kind != "order":
            return error_answer(
                MANDATORY_PARAM.with_msg(f"margin-gate: {method} {path} is not an order endpoint.")
            )
        order = Params(tuple((k, v) for k, v in params.items_ if k not in _OWN), None, b"")
        if not bot.may_call(method, path):
            return json_answer(200, {"decision": "reject", "rule": "bot.allow_endpoints",
                                     "code": -1002, "msg": "not in allow_endpoints"})  # fmt: skip
        v = await self.gate.judge(bot, method, path, route, order, request_id, reserve=False)
        p = v.projection
        refusal = v.refusal
        payload = {
            "decision": v.decision,
            "rule": v.rule,
            "code": None if refusal is None else refusal.error.code,
            "msg": None if refusal is None else refusal.error.msg,
            "unimmr_before": _num(v.unimmr_before),
            "unimmr_after": _num(v.unimmr_after),
            "buffer": str(v.floor),
            "equity_after": None if p is None else _num(p.adjusted_equity_after),
            "maint_margin_after": None if p is None else _num(p.maint_margin_after),
            "state_age_ms": v.state_age_ms,
        }
        return json_answer(200, payload, v.headers())

    def account(self, bot: Bot) -> Answer:
        gate = self.gate
        view = gate.store.view(bot.account)
        profile = gate.profiles[bot.name]
        risk = view.risk
        now = with_pending = None
        if risk is not None:
            with contextlib.suppress(LookupError):
                now, with_pending = risk.current_uni_mmr(False), risk.current_uni_mmr(True)
        payload = {
            "account": bot.account,
            "bot": bot.name,
            "unimmr": _num(now),
            "unimmr_with_pending": _num(with_pending),
            "exchange_unimmr": _num(view.exchange_uni_mmr),
            "account_status": view.account_status,
            "halted": gate.halts.halted(bot.account, bot.name),
            "profile": {
                "names": list(profile.names),
                "min_unimmr_after": str(profile.min_unimmr_after),
                "warn_unimmr_below": _num(profile.warn_unimmr_below),
                "market_slippage": str(profile.market_slippage),
                "include_resting_orders": profile.include_resting_orders,
                "conditional_mode": profile.conditional_mode,
                "max_order_notional": _num(profile.max_order_notional),
                "price_collar_bps": _num(profile.price_collar_bps),
                "allowed_symbols": sorted(profile.allowed_symbols or []) or None,
                "allow_manual_liquidation": profile.allow_manual_liquidation,
            },
            "in_flight": [
                {"id": r.id, "bot": r.bot, "state": r.state, "created_ms": r.created_ms}
                for r in view.reservations
            ],
            "state_age_ms": view.account_age_ms,
            "prices_age_ms": view.prices_age_ms,
            "stale_reason": view.stale_reason,
            "degraded_reason": view.degraded_reason,
            "drift": _num(view.drift),
        }
        return json_answer(200, payload)
