"""Rules that depend on the account's condition, each on its own stack (they move it): the
reduce-only band (-4405 UM / -4415 CM / -4087 margin), liquidation (-3048) and stale state
(-2010, fail closed). Risk-reducing orders still pass where the rules say they do.

uniMMR(P) = (10,000 + 2·(P − 50,000)) / (0.02·P): 45,540 → 1.186 (reduce-only band),
45,400 → 0.969 (liquidation).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from binance.exceptions import BinanceAPIException

from tests.integration.e2e.harness import binance_client
from tests.integration.e2e.harness import stack

D = Decimal
SELL_SMALL = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1"}
BUY_SMALL = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


def test_orders_when_in_reduce_only_band_then_only_reducing_pass(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        # Arrange
        moved = s.price("BTC", "45540")
        s.wait_view(lambda v: v.risk is not None and v.risk.current_uni_mmr(False) < D("1.2"))
        before = len(s.orders_reached())
        with binance_client(s.gateway_url) as c:
            # Act
            with pytest.raises(BinanceAPIException) as um:
                c.papi_create_um_order(**BUY_SMALL)
            um_headers = dict(c.response.headers)
            with pytest.raises(BinanceAPIException) as cm:
                c.papi_create_cm_order(
                    symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="1"
                )
            with pytest.raises(BinanceAPIException) as margin:
                c.papi_create_margin_order(
                    symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001",
                    sideEffectType="MARGIN_BUY",
                )  # fmt: skip
            refused_reached = s.orders_reached()[before:]
            reduced = c.papi_create_um_order(**SELL_SMALL, newOrderRespType="RESULT")
            reduced_headers = dict(c.response.headers)
        paper = s.paper_state()
    # Assert
    assert moved["accountStatus"] == "REDUCE_ONLY"
    assert (um.value.status_code, um.value.code) == (400, -4405)
    assert "uniMMR 1.18" in um.value.message
    assert um.value.message.endswith("only risk-reducing orders pass (rule reduce_only)")
    assert um_headers["x-margin-gate-rule"] == "policy.reduce_only"
    assert cm.value.code == -4415
    assert margin.value.code == -4087
    assert refused_reached == []
    assert reduced["status"] == "FILLED"
    assert reduced_headers["x-margin-gate-rule"] == "policy.risk_reducing"
    assert D(reduced_headers["x-margin-gate-unimmr-after"]) > D(reduced_headers[
        "x-margin-gate-unimmr-before"
    ])  # fmt: skip
    assert D(paper["uniMMR"]) > D("1.186")  # the exchange agrees: reducing helped


def test_orders_when_account_in_liquidation_then_3048_for_every_order(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        # Arrange: hold the paper's liquidation so the account stays in FORCE_LIQUIDATION
        s.control("liquidation", {"hold": True})
        moved = s.price("BTC", "45400")
        s.wait_view(lambda v: v.account_status == "FORCE_LIQUIDATION")
        before = len(s.orders_reached())
        with binance_client(s.gateway_url) as c:
            # Act
            with pytest.raises(BinanceAPIException) as buy:
                c.papi_create_um_order(**BUY_SMALL)
            headers = dict(c.response.headers)
            with pytest.raises(BinanceAPIException) as sell:
                c.papi_create_um_order(**SELL_SMALL)  # reducing, still refused (as Binance)
        reached = s.orders_reached()[before:]
        s.control("liquidation", {"hold": False})
    # Assert
    assert moved["accountStatus"] == "FORCE_LIQUIDATION"
    for refused in (buy.value, sell.value):
        assert (refused.status_code, refused.code) == (400, -3048)
        assert refused.message.startswith(
            "Unable to trade. Your margin account is currently in liquidation. Please try "
            "again once the liquidation is processed. margin-gate: account status "
            "FORCE_LIQUIDATION"
        )
    assert headers["x-margin-gate-rule"] == "policy.liquidation"
    assert reached == []


def test_orders_when_state_stale_then_increasing_refused_and_reducing_pass(
    tmp_path: Path,
) -> None:
    with stack(tmp_path) as s:
        # Arrange: the user stream drops and cannot come back (listenKey refused)
        s.control("faults", {"kind": "error", "path": "/papi/v1/listenKey", "method": "POST",
                             "count": None, "status": 500})  # fmt: skip
        s.control("streams/drop")
        s.wait_view(lambda v: v.stale_reason is not None and "user stream" in v.stale_reason)
        before = len(s.orders_reached())
        with binance_client(s.gateway_url) as c:
            # Act
            with pytest.raises(BinanceAPIException) as buy:
                c.papi_create_um_order(**BUY_SMALL)
            headers = dict(c.response.headers)
            refused_reached = s.orders_reached()[before:]
            reduced = c.papi_create_um_order(**SELL_SMALL)
        s.http.delete(f"{s.paper_url}/paper/control/faults")
    # Assert
    assert (buy.value.status_code, buy.value.code) == (400, -2010)
    assert "account state is not fresh (user stream down since" in buy.value.message
    assert buy.value.message.endswith("(rule stale_state)")
    assert headers["x-margin-gate-rule"] == "policy.stale_state"
    assert refused_reached == []
    assert reduced["orderId"] > 0


@pytest.mark.redis
def test_orders_when_audit_stream_down_and_policy_refuse_then_2010(tmp_path: Path) -> None:
    from tests.integration.audit.redis_server import RedisServer

    redis = RedisServer(tmp_path / "redis").start()
    try:
        audit = {"stream": "mg:audit", "policy": "refuse", "heartbeat_s": 0.2,
                 "redis_timeout_s": 0.3}  # fmt: skip
        with stack(tmp_path, state={"redis_url": redis.url}, extra={"audit": audit}) as s:
            # Arrange: the stream sink goes down; with policy "refuse" the audit log stops
            # accepting risk (docs/audit.md)
            redis.stop()
            risk = s.app.risk
            assert risk is not None
            deadline = time.monotonic() + 10
            while risk.audit.accepting_risk() and time.monotonic() < deadline:
                time.sleep(0.05)
            before = len(s.orders_reached())
            with binance_client(s.gateway_url) as c:
                # Act
                with pytest.raises(BinanceAPIException) as buy:
                    c.papi_create_um_order(**BUY_SMALL)
                headers = dict(c.response.headers)
                refused_reached = s.orders_reached()[before:]
                reduced = c.papi_create_um_order(**SELL_SMALL)
            records = s.audit_records()
    finally:
        redis.stop()
    # Assert
    assert (buy.value.status_code, buy.value.code) == (400, -2010)
    assert "the audit log cannot guarantee records right now" in buy.value.message
    assert headers["x-margin-gate-rule"] == "policy.audit_unavailable"
    assert refused_reached == []
    assert reduced["orderId"] > 0
    rules = [r.get("rule") for r in records if r["kind"] == "decision"]
    assert "policy.audit_unavailable" in rules  # still written to the file
