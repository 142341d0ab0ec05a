"""Every refusal the policy can give, built in one place: Binance's code and sentence, then
margin-gate's explanation (rule, uniMMR, buffer). docs/policy.md has the table.

A `Refusal` is a value (rule, error); proxy/errors.py turns its error into the HTTP answer.
Rule names are `policy.<rule>`; the same name goes to `X-Margin-Gate-Rule` and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from margin_gate.policy.limits import CollarBreach
from margin_gate.wire.errors import CM_REDUCE_ONLY_ONLY
from margin_gate.wire.errors import LIMIT_PRICE_TOO_HIGH
from margin_gate.wire.errors import LIMIT_PRICE_TOO_LOW
from margin_gate.wire.errors import MARGIN_INSUFFICIENT
from margin_gate.wire.errors import NEW_ORDER_REJECTED
from margin_gate.wire.errors import NO_PLACE_ORDER_PERMISSION
from margin_gate.wire.errors import REDUCE_ONLY_ORDER_PERMISSION
from margin_gate.wire.errors import UM_REDUCE_ONLY_ONLY
from margin_gate.wire.errors import UNABLE_TRADE_LOW_LIQUIDATION
from margin_gate.wire.errors import UNAUTHORIZED
from margin_gate.wire.errors import BinanceError

__all__ = ["Refusal", "fmt"]

_INF = Decimal("Infinity")
_HUGE = Decimal("1e9")  # uniMMR past this reads "inf" (no maintenance margin to speak of)
_SPECS = {4: ".4f", 6: ".6f"}


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str  # "policy.min_unimmr_after", ...
    error: BinanceError


def fmt(value: Decimal | None, places: int = 4) -> str:
    """A uniMMR for humans: 4 decimals, "inf" when there is no maintenance margin."""
    if value is None:
        return "n/a"
    if value >= _HUGE:  # infinity included
        return "inf"
    return format(value, _SPECS.get(places) or f".{places}f")


def _refuse(rule: str, base: BinanceError, explanation: str) -> Refusal:
    name = rule.removeprefix("policy.")
    return Refusal(rule, base.with_msg(f"{base.msg} margin-gate: {explanation} (rule {name})"))


def endpoint_not_allowed(method: str, endpoint: str) -> Refusal:
    return _refuse(
        "policy.allowed_endpoints",
        UNAUTHORIZED,
        f"{method} {endpoint} is not in this bot's profile allowed_endpoints",
    )


def manual_liquidation() -> Refusal:
    return _refuse(
        "policy.manual_liquidation",
        UNAUTHORIZED,
        "manual liquidation liquidates the margin account on purpose; this bot's profile "
        "does not set allow_manual_liquidation",
    )


def unsupported(endpoint: str) -> Refusal:
    return _refuse(
        "policy.unsupported_endpoint",
        NEW_ORDER_REJECTED,
        f"orders on {endpoint} cannot be projected by the margin engine, so they are refused",
    )


def halted(what: str) -> Refusal:
    return _refuse(
        "policy.kill_switch",
        NO_PLACE_ORDER_PERMISSION,
        f"{what} is halted by an operator; only cancels and risk-reducing orders pass",
    )


def liquidation(status: str | None, now: Decimal | None) -> Refusal:
    return _refuse(
        "policy.liquidation",
        UNABLE_TRADE_LOW_LIQUIDATION,
        f"account status {status or 'unknown'}, uniMMR {fmt(now)} (liquidation below 1.05)",
    )


def reduce_only(market: str | None, status: str | None, now: Decimal | None) -> Refusal:
    base = {"UM": UM_REDUCE_ONLY_ONLY, "CM": CM_REDUCE_ONLY_ONLY}.get(
        market or "", REDUCE_ONLY_ORDER_PERMISSION
    )
    why = f"account status {status}" if status == "REDUCE_ONLY" else "account"
    return _refuse(
        "policy.reduce_only",
        base,
        f"{why} at uniMMR {fmt(now)} (<= 1.20 is reduce-only); only risk-reducing orders pass",
    )


def stale(reason: str) -> Refusal:
    return _refuse(
        "policy.stale_state",
        NEW_ORDER_REJECTED,
        f"account state is not fresh ({reason}); risk-increasing orders are refused until it is",
    )


def unpriced(reason: str) -> Refusal:
    return _refuse(
        "policy.stale_state",
        NEW_ORDER_REJECTED,
        f"the margin model lacks data for this order ({reason}); risk-increasing orders "
        "are refused (fail closed)",
    )


def audit_unavailable() -> Refusal:
    return _refuse(
        "policy.audit_unavailable",
        NEW_ORDER_REJECTED,
        "the audit log cannot guarantee records right now; risk-increasing orders are refused",
    )


def audit_write_failed() -> Refusal:
    return _refuse(
        "policy.audit_write",
        NEW_ORDER_REJECTED,
        "the decision could not be written to the audit log; the order was not sent",
    )


def symbol_not_allowed(symbol: str) -> Refusal:
    return _refuse(
        "policy.allowed_symbols",
        NEW_ORDER_REJECTED,
        f"symbol {symbol} is not in this bot's profile allowed_symbols",
    )


def notional(value: Decimal, cap: Decimal) -> Refusal:
    return _refuse(
        "policy.max_order_notional",
        NEW_ORDER_REJECTED,
        f"order notional {value:.2f} USD > max_order_notional {cap} USD",
    )


def collar(breach: CollarBreach, bps: Decimal) -> Refusal:
    base = LIMIT_PRICE_TOO_HIGH if breach.too_high else LIMIT_PRICE_TOO_LOW
    word = "higher" if breach.too_high else "lower"
    base = base.with_msg(f"Limit price can't be {word} than {breach.bound:.8f}.")
    return _refuse(
        "policy.price_collar",
        base,
        f"{breach.symbol} price {breach.price} is more than {bps} bps from mark {breach.reference}",
    )


def conditional() -> Refusal:
    return _refuse(
        "policy.conditional_mode",
        NEW_ORDER_REJECTED,
        "conditional orders must be reduceOnly or closePosition (profile conditional_mode = "
        "reduce_only)",
    )


def buffer(after: Decimal, floor: Decimal) -> Refusal:
    return _refuse(
        "policy.min_unimmr_after",
        MARGIN_INSUFFICIENT,
        f"projected uniMMR {fmt(after)} < min {floor}",
    )


def contention(tries: int) -> Refusal:
    return _refuse(
        "policy.state_contention",
        NEW_ORDER_REJECTED,
        f"the account's state kept changing under {tries} check-and-reserve attempts; retry",
    )


def duplicate(client_id: str) -> Refusal:
    return _refuse(
        "policy.duplicate_client_id",
        NEW_ORDER_REJECTED,
        f"an order with client id {client_id} is already in flight",
    )


def state_unavailable() -> Refusal:
    return _refuse(
        "policy.state_unavailable",
        NEW_ORDER_REJECTED,
        "the shared state store cannot be reached; risk-increasing orders are refused",
    )
