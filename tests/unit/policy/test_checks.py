"""The ordered checks, one behaviour each (Arrange/Act/Assert), plus the rule → code → HTTP
table (docs/policy.md) and the order in which the first refusal wins."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from margin_gate.policy import deny
from margin_gate.policy.checks import POST_CHECKS
from margin_gate.policy.checks import PRE_CHECKS
from margin_gate.policy.checks import Case
from margin_gate.policy.checks import first_refusal
from margin_gate.policy.profile import EffectiveProfile
from margin_gate.policy.profile import EndpointRules
from tests.unit.margin.builders import ETH_LONG
from tests.unit.margin.builders import intent
from tests.unit.margin.builders import risk
from tests.unit.margin.builders import um_order
from tests.unit.margin.builders import usdt

D = Decimal
PROFILE = EffectiveProfile(names=("default",))


def case(**kw: Any) -> Case:
    base: dict[str, Any] = {
        "method": "POST",
        "endpoint": "/papi/v1/um/order",
        "market": "UM",
        "manual_liquidation": False,
        "projectable": True,
        "reducing": False,
        "repay": False,
        "halted": None,
        "account_status": "NORMAL",
        "unimmr_now": D(5),
        "stale_reason": None,
        "audit_ok": True,
    }
    return Case(**{**base, **kw})


def rule_of(refusal: deny.Refusal | None) -> str:
    assert refusal is not None
    return refusal.rule


def run(c: Case, p: EffectiveProfile = PROFILE) -> deny.Refusal | None:
    return first_refusal(PRE_CHECKS, c, p) or first_refusal(POST_CHECKS, c, p)


def test_order_when_nothing_wrong_then_no_refusal() -> None:
    # Arrange
    c = case(unimmr_after=D(2))
    # Act
    refusal = run(c)
    # Assert
    assert refusal is None


def test_order_when_halted_and_increasing_then_kill_switch_4088() -> None:
    # Arrange
    c = case(halted="account main (drill)")
    # Act
    refusal = run(c)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code, refusal.error.status) == (
        "policy.kill_switch",
        -4088,
        400,
    )
    assert "account main (drill) is halted" in refusal.error.msg


def test_order_when_halted_and_reducing_then_passes() -> None:
    # Arrange
    c = case(halted="bot alpha", reducing=True, unimmr_after=D("1.1"))
    # Act / Assert
    assert run(c) is None


def test_manual_liquidation_when_halted_then_refused_even_if_allowed() -> None:
    # Arrange
    p = replace(PROFILE, allow_manual_liquidation=True)
    c = case(halted="account main", manual_liquidation=True, projectable=False)
    # Act
    refusal = run(c, p)
    # Assert
    assert rule_of(refusal) == "policy.kill_switch"


@pytest.mark.parametrize("status", ["FORCE_LIQUIDATION", "ACTIVE_LIQUIDATION", "BANKRUPTED"])
def test_order_when_status_liquidating_then_3048_even_if_reducing(status: str) -> None:
    # Arrange
    c = case(account_status=status, reducing=True)
    # Act
    refusal = run(c)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code, refusal.error.status) == (
        "policy.liquidation",
        -3048,
        400,
    )
    assert refusal.error.msg.startswith("Unable to trade. Your margin account is currently in")


def test_order_when_unimmr_below_105_then_3048() -> None:
    # Arrange
    c = case(unimmr_now=D("1.04"))
    # Act
    refusal = run(c)
    # Assert
    assert refusal is not None
    assert refusal.error.code == -3048
    assert "uniMMR 1.0400" in refusal.error.msg


def test_repay_when_liquidating_then_passes() -> None:
    # Arrange
    c = case(account_status="FORCE_LIQUIDATION", reducing=True, repay=True, market=None)
    # Act / Assert
    assert run(c) is None


@pytest.mark.parametrize(("market", "code"), [("UM", -4405), ("CM", -4415), ("MARGIN", -4087)])
def test_order_when_at_or_below_120_then_reduce_only_code_per_market(
    market: str, code: int
) -> None:
    # Arrange
    c = case(market=market, unimmr_now=D("1.20"))
    # Act
    refusal = run(c)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code) == ("policy.reduce_only", code)


def test_order_when_status_reduce_only_and_reducing_then_passes() -> None:
    # Arrange
    c = case(account_status="REDUCE_ONLY", unimmr_now=D("1.15"), reducing=True)
    # Act / Assert
    assert run(c) is None


def test_order_when_stale_and_increasing_then_2010_with_reason() -> None:
    # Arrange
    c = case(stale_reason="mark price for BTCUSDT 6100 ms old > 5000 ms limit")
    # Act
    refusal = run(c)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code) == ("policy.stale_state", -2010)
    assert "6100 ms old" in refusal.error.msg


def test_order_when_stale_and_reducing_then_passes() -> None:
    # Arrange
    c = case(stale_reason="user stream down since 3.0 s", reducing=True)
    # Act / Assert
    assert run(c) is None


def test_order_when_audit_not_accepting_then_2010() -> None:
    # Arrange
    c = case(audit_ok=False)
    # Act
    refusal = run(c)
    # Assert
    assert rule_of(refusal) == "policy.audit_unavailable"


def test_order_when_projection_below_floor_then_2019_with_numbers() -> None:
    # Arrange
    c = case(unimmr_after=D("1.38"))
    # Act
    refusal = run(c)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code, refusal.error.status) == (
        "policy.min_unimmr_after",
        -2019,
        400,
    )
    assert refusal.error.msg == (
        "Margin is insufficient. margin-gate: projected uniMMR 1.3800 < min 1.5 "
        "(rule min_unimmr_after)"
    )


def test_order_when_reducing_and_projection_below_floor_then_passes() -> None:
    # Arrange
    c = case(reducing=True, unimmr_after=D("1.1"))
    # Act / Assert
    assert run(c) is None


def test_order_when_endpoint_not_in_profile_then_1002_401() -> None:
    # Arrange
    p = replace(PROFILE, endpoints=EndpointRules([("/papi/v1/*",)]))
    c = case(endpoint="/fapi/v1/order")
    # Act
    refusal = run(c, p)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code, refusal.error.status) == (
        "policy.allowed_endpoints",
        -1002,
        401,
    )


def test_manual_liquidation_when_not_allowed_then_1002() -> None:
    # Arrange
    c = case(manual_liquidation=True, projectable=False, market=None)
    # Act
    refusal = run(c)
    # Assert
    assert rule_of(refusal) == "policy.manual_liquidation"


def test_order_when_engine_cannot_project_endpoint_then_2010() -> None:
    # Arrange
    c = case(endpoint="/api/v3/orderList/oto", projectable=False)
    # Act
    refusal = run(c)
    # Assert
    assert rule_of(refusal) == "policy.unsupported_endpoint"


def test_order_when_symbol_not_allowed_then_2010() -> None:
    # Arrange
    p = replace(PROFILE, allowed_symbols=frozenset({"ETHUSDT"}))
    c = case(intent=um_order("BUY", "0.1"), risk=risk(usdt(um=10_000)))
    # Act
    refusal = run(c, p)
    # Assert
    assert rule_of(refusal) == "policy.allowed_symbols"


def test_order_when_notional_above_cap_then_2010() -> None:
    # Arrange: 1 BTC at mark 40,000 (MARKET: reference = mark)
    p = replace(PROFILE, max_order_notional=D(39_999))
    c = case(intent=um_order("BUY", "1"), risk=risk(usdt(um=100_000)))
    # Act
    refusal = run(c, p)
    # Assert
    assert rule_of(refusal) == "policy.max_order_notional"
    assert refusal is not None
    assert "40000.00 USD > max_order_notional 39999 USD" in refusal.error.msg


@pytest.mark.parametrize(
    ("side", "price", "code"), [("BUY", "42000.1", -4016), ("SELL", "37999.9", -4024)]
)
def test_order_when_limit_outside_collar_then_4016_or_4024(
    side: str, price: str, code: int
) -> None:
    # Arrange: 500 bps around 40,000 → [38,000, 42,000]
    p = replace(PROFILE, price_collar_bps=D(500))
    order = um_order(side, "0.1", "LIMIT", price=price, timeInForce="GTC")
    c = case(intent=order, risk=risk(usdt(um=100_000), positions=(ETH_LONG,)))
    # Act
    refusal = run(c, p)
    # Assert
    assert refusal is not None
    assert (refusal.rule, refusal.error.code) == ("policy.price_collar", code)


def test_order_when_limit_inside_collar_then_passes() -> None:
    # Arrange
    p = replace(PROFILE, price_collar_bps=D(500))
    order = um_order("BUY", "0.1", "LIMIT", price="42000", timeInForce="GTC")
    c = case(intent=order, risk=risk(usdt(um=100_000)), unimmr_after=D(3))
    # Act / Assert
    assert run(c, p) is None


def test_conditional_when_mode_reduce_only_and_not_reduce_only_then_2010() -> None:
    # Arrange
    p = replace(PROFILE, conditional_mode="reduce_only")
    order = intent("/fapi/v1/algoOrder", symbol="BTCUSDT", side="BUY", type="STOP_MARKET",
                   quantity="0.1", triggerPrice="41000", algoType="CONDITIONAL")  # fmt: skip
    c = case(intent=order, unimmr_after=D(3))
    # Act
    refusal = run(c, p)
    # Assert
    assert rule_of(refusal) == "policy.conditional_mode"


def test_conditional_when_mode_reduce_only_and_reduce_only_then_passes() -> None:
    # Arrange
    p = replace(PROFILE, conditional_mode="reduce_only")
    order = intent("/fapi/v1/algoOrder", symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
                   quantity="0.1", triggerPrice="39000", reduceOnly="true")  # fmt: skip
    c = case(intent=order, unimmr_after=D(3))
    # Act / Assert
    assert run(c, p) is None


def test_checks_when_several_fail_then_first_in_order_wins() -> None:
    # Arrange: halted, liquidating, stale, below floor — the kill switch comes first
    c = case(halted="account main", account_status="FORCE_LIQUIDATION", stale_reason="old",
             unimmr_after=D(1))  # fmt: skip
    # Act
    refusal = run(c)
    # Assert
    assert rule_of(refusal) == "policy.kill_switch"


# rule → (Binance code, HTTP status): the table in docs/policy.md
TABLE = {
    "policy.allowed_endpoints": (deny.endpoint_not_allowed("POST", "/x"), -1002, 401),
    "policy.manual_liquidation": (deny.manual_liquidation(), -1002, 401),
    "policy.unsupported_endpoint": (deny.unsupported("/x"), -2010, 400),
    "policy.kill_switch": (deny.halted("account a"), -4088, 400),
    "policy.liquidation": (deny.liquidation("FORCE_LIQUIDATION", D(1)), -3048, 400),
    "policy.reduce_only": (deny.reduce_only("UM", None, D("1.1")), -4405, 400),
    "policy.stale_state": (deny.stale("old"), -2010, 400),
    "policy.audit_unavailable": (deny.audit_unavailable(), -2010, 400),
    "policy.audit_write": (deny.audit_write_failed(), -2010, 400),
    "policy.allowed_symbols": (deny.symbol_not_allowed("X"), -2010, 400),
    "policy.max_order_notional": (deny.notional(D(2), D(1)), -2010, 400),
    "policy.conditional_mode": (deny.conditional(), -2010, 400),
    "policy.min_unimmr_after": (deny.buffer(D(1), D("1.5")), -2019, 400),
    "policy.state_contention": (deny.contention(5), -2010, 400),
    "policy.duplicate_client_id": (deny.duplicate("x"), -2010, 400),
    "policy.state_unavailable": (deny.state_unavailable(), -2010, 400),
}


@pytest.mark.parametrize("rule", sorted(TABLE))
def test_refusal_when_built_then_code_status_rule_and_explanation(rule: str) -> None:
    # Arrange
    refusal, code, status = TABLE[rule]
    # Act
    error = refusal.error
    # Assert
    assert refusal.rule == rule
    assert (error.code, error.status) == (code, status)
    assert " margin-gate: " in error.msg
    assert error.msg.endswith(f"(rule {rule.removeprefix('policy.')})")


def test_fmt_when_infinite_or_none_then_words() -> None:
    assert deny.fmt(D("Infinity")) == "inf"
    assert deny.fmt(None) == "n/a"
    assert deny.fmt(D("1.23456")) == "1.2346"
