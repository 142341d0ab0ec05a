"""Every decision rule, end to end: python-binance (unmodified) → the gateway → the paper
exchange. Each test asserts the Binance code, the message, the X-Margin-Gate-* headers and what
reached (or did not reach) the exchange. Rules that move the account (reduce-only band,
liquidation, stale state) get their own stack (test_rules_account.py); these share one.

Account (harness.py): 10,000 USDT, long 2 BTCUSDT @ 50,000, 1 % bracket: uniMMR 10 at 50,000.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from tests.integration.e2e.harness import Stack
from tests.integration.e2e.harness import binance_client
from tests.integration.e2e.harness import stack

D = Decimal
BUY_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("rules")) as s:
        yield s


def refused(
    s: Stack, call: Callable[[Any], Any], bot: str = "alpha"
) -> tuple[BinanceAPIException, dict[str, str], list[tuple[str, str]]]:
    """Run `call(client)`; return the exception, the response headers and what reached the
    exchange meanwhile."""
    before = len(s.orders_reached())
    with binance_client(s.gateway_url, bot) as client:
        with pytest.raises(BinanceAPIException) as caught:
            call(client)
        headers = dict(client.response.headers)
    return caught.value, headers, s.orders_reached()[before:]


def accepted(
    s: Stack, call: Callable[[Any], Any], bot: str = "alpha"
) -> tuple[Any, dict[str, str]]:
    with binance_client(s.gateway_url, bot) as client:
        answer = call(client)
        headers = dict(client.response.headers)
    return answer, headers


def cancel(s: Stack, symbol: str, order_id: int) -> None:
    with binance_client(s.gateway_url) as client:
        client.papi_cancel_um_order(symbol=symbol, orderId=order_id)


def test_order_when_projection_below_floor_then_2019_and_not_sent(gw: Stack) -> None:
    # Arrange: 12 BTC more at mark + 0.5 % slippage and 0.05 % fee:
    # uniMMR ≈ (10,000 − 12 × 250 − 301) / (14 × 500) ≈ 0.957 < 1.5
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "12"}
    # Act
    exc, headers, reached = refused(gw, lambda c: c.papi_create_um_order(**order))
    # Assert
    assert (exc.status_code, exc.code) == (400, -2019)
    assert exc.message.startswith("Margin is insufficient. margin-gate: projected uniMMR 0.95")
    assert exc.message.endswith("< min 1.5 (rule min_unimmr_after)")
    assert headers["x-margin-gate-decision"] == "reject"
    assert headers["x-margin-gate-rule"] == "policy.min_unimmr_after"
    assert D(headers["x-margin-gate-unimmr-before"]) == D(10)
    assert D("0.95") < D(headers["x-margin-gate-unimmr-after"]) < D("0.96")
    assert reached == []


def test_order_when_projection_above_floor_then_forwarded_with_headers(gw: Stack) -> None:
    # Act
    placed, headers = accepted(
        gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.5", price="40000")
    )
    cancel(gw, "BTCUSDT", placed["orderId"])
    # Assert: worst case fills at mark (50,000): MM 1,250 → uniMMR ≈ 7.99
    assert placed["status"] == "NEW"
    assert headers["x-margin-gate-decision"] == "accept"
    assert headers["x-margin-gate-rule"] == "policy.min_unimmr_after"
    assert D("7.9") < D(headers["x-margin-gate-unimmr-after"]) < D(8)
    assert ("POST", "/papi/v1/um/order") in gw.orders_reached()


def test_order_when_risk_reducing_then_passes_as_risk_reducing(gw: Stack) -> None:
    # Act: SELL 1 against the long 2 only reduces it
    placed, headers = accepted(
        gw,
        lambda c: c.papi_create_um_order(
            symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1",
            price="60000",
        ),
    )  # fmt: skip
    cancel(gw, "BTCUSDT", placed["orderId"])
    # Assert
    assert headers["x-margin-gate-decision"] == "accept"
    assert headers["x-margin-gate-rule"] == "policy.risk_reducing"


def test_order_when_symbol_not_allowed_then_2010(gw: Stack) -> None:
    # Act
    exc, headers, reached = refused(
        gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.01", price="49000"), "narrow"
    )
    # Assert
    assert (exc.status_code, exc.code) == (400, -2010)
    assert "symbol BTCUSDT is not in this bot's profile allowed_symbols" in exc.message
    assert exc.message.endswith("(rule allowed_symbols)")
    assert headers["x-margin-gate-rule"] == "policy.allowed_symbols"
    assert reached == []


def test_order_when_notional_above_cap_then_2010(gw: Stack) -> None:
    # Act: 2 ETH × 3,000 = 6,000 USD > 5,000
    exc, headers, reached = refused(
        gw,
        lambda c: c.papi_create_um_order(
            symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="2",
            price="3000",
        ),
        "narrow",
    )  # fmt: skip
    # Assert
    assert (exc.status_code, exc.code) == (400, -2010)
    assert "order notional 6000.00 USD > max_order_notional 5000 USD" in exc.message
    assert headers["x-margin-gate-rule"] == "policy.max_order_notional"
    assert reached == []


@pytest.mark.parametrize(
    ("side", "price", "code", "word"),
    [("BUY", "3300", -4016, "higher"), ("SELL", "2800", -4024, "lower")],
)
def test_order_when_price_outside_collar_then_4016_or_4024(
    gw: Stack, side: str, price: str, code: int, word: str
) -> None:
    # Act: collar 500 bps around mark 3,000 → [2,850, 3,150]
    exc, headers, reached = refused(
        gw,
        lambda c: c.papi_create_um_order(
            symbol="ETHUSDT", side=side, type="LIMIT", timeInForce="GTC", quantity="1",
            price=price,
        ),
        "narrow",
    )  # fmt: skip
    # Assert
    assert (exc.status_code, exc.code) == (400, code)
    assert exc.message.startswith(f"Limit price can't be {word} than")
    assert "more than 500 bps from mark 3000" in exc.message
    assert headers["x-margin-gate-rule"] == "policy.price_collar"
    assert reached == []


def test_order_when_endpoint_not_in_profile_then_1002(gw: Stack) -> None:
    # Act: narrow's profile allows /papi/v1/* only
    exc, headers, reached = refused(
        gw,
        lambda c: c.futures_create_order(
            symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1",
            price="3000",
        ),
        "narrow",
    )  # fmt: skip
    # Assert
    assert (exc.status_code, exc.code) == (401, -1002)
    assert "POST /fapi/v1/order is not in this bot's profile allowed_endpoints" in exc.message
    assert headers["x-margin-gate-rule"] == "policy.allowed_endpoints"
    assert reached == []


def test_manual_liquidation_when_profile_does_not_allow_then_1002(gw: Stack) -> None:
    # Act
    exc, headers, reached = refused(gw, lambda c: c.margin_manual_liquidation(type="MARGIN"))
    # Assert
    assert (exc.status_code, exc.code) == (401, -1002)
    assert "does not set allow_manual_liquidation" in exc.message
    assert headers["x-margin-gate-rule"] == "policy.manual_liquidation"
    assert reached == []


def test_manual_liquidation_when_profile_allows_then_forwarded(gw: Stack) -> None:
    # Act
    answer, headers = accepted(
        gw, lambda c: c.margin_manual_liquidation(type="MARGIN"), "liquidator"
    )
    # Assert
    assert isinstance(answer, list)
    assert headers["x-margin-gate-rule"] == "policy.manual_liquidation"
    assert ("POST", "/sapi/v1/margin/manual-liquidation") in gw.orders_reached()


def test_conditional_when_mode_reduce_only_and_not_reducing_then_2010(gw: Stack) -> None:
    # Act: python-binance sends STOP_MARKET to /fapi/v1/algoOrder (clients.md)
    exc, headers, reached = refused(
        gw,
        lambda c: c.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="STOP_MARKET", quantity="0.01", stopPrice="52000"
        ),
        "cond",
    )
    # Assert
    assert (exc.status_code, exc.code) == (400, -2010)
    assert "conditional orders must be reduceOnly or closePosition" in exc.message
    assert headers["x-margin-gate-rule"] == "policy.conditional_mode"
    assert reached == []


def test_order_when_below_warning_level_then_accepted_with_warn(gw: Stack) -> None:
    # Act: projected ≈ 7.99 < warn 9.0 (> floor 1.5)
    placed, headers = accepted(
        gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.5", price="40000"), "warner"
    )
    cancel(gw, "BTCUSDT", placed["orderId"])
    # Assert
    assert headers["x-margin-gate-decision"] == "warn"
    assert headers["x-margin-gate-rule"] == "policy.warn_unimmr_below"
    warned = [r for r in gw.audit_records() if r.get("decision") == "warn"]
    assert [r["kind"] for r in warned] == ["decision", "outcome"]


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"quantity": "0.0001", "price": "40000"}, -1111, "Precision is over the maximum"),
        ({"price": "40000"}, -1102, "quantity"),
        ({"quantity": "0.01", "price": "40000", "symbol": "NOPEUSDT"}, -1121, "Invalid symbol"),
    ],
)
def test_order_when_params_invalid_then_engine_code(
    gw: Stack, params: dict[str, str], code: int, text: str
) -> None:
    # Act
    exc, headers, reached = refused(gw, lambda c: c.papi_create_um_order(**{**BUY_LIMIT, **params}))
    # Assert
    assert (exc.status_code, exc.code) == (400, code)
    assert text in exc.message
    assert headers["x-margin-gate-rule"] == "policy.params"
    assert reached == []


def test_order_when_halted_then_4088_and_reducing_orders_pass(gw: Stack) -> None:
    # Arrange
    halted = gw.operator("POST", "halt", {"account": "main", "reason": "drill"})
    try:
        # Act
        exc, headers, reached = refused(
            gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.01", price="40000")
        )
        reducing, reducing_headers = accepted(
            gw,
            lambda c: c.papi_create_um_order(
                symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC",
                quantity="0.5", price="60000",
            ),
        )  # fmt: skip
        cancel(gw, "BTCUSDT", reducing["orderId"])
    finally:
        resumed = gw.operator("POST", "resume", {"account": "main"})
    after, _ = accepted(
        gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.01", price="40000")
    )
    cancel(gw, "BTCUSDT", after["orderId"])
    # Assert
    assert halted.status_code == 200, halted.text
    assert halted.json()["halts"][0]["reason"] == "drill"
    assert (exc.status_code, exc.code) == (400, -4088)
    assert exc.message.startswith("User can not place order currently. margin-gate: account main")
    assert headers["x-margin-gate-rule"] == "policy.kill_switch"
    assert reached == []
    assert reducing_headers["x-margin-gate-rule"] == "policy.risk_reducing"
    assert resumed.json()["changed"] is True


def test_order_when_bot_halted_then_other_bots_trade(gw: Stack) -> None:
    # Arrange
    gw.operator("POST", "halt", {"bot": "warner"})
    try:
        # Act
        exc, _, reached = refused(
            gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.01", price="40000"),
            "warner",
        )  # fmt: skip
        placed, _ = accepted(
            gw, lambda c: c.papi_create_um_order(**BUY_LIMIT, quantity="0.01", price="40000")
        )
        cancel(gw, "BTCUSDT", placed["orderId"])
        listed = gw.operator("GET", "halts").json()
    finally:
        gw.operator("POST", "resume", {"bot": "warner"})
    # Assert
    assert exc.code == -4088
    assert "bot warner" in exc.message
    assert reached == []
    assert [(h["scope"], h["name"]) for h in listed["halts"]] == [("bot", "warner")]


def test_repay_when_halted_then_passes(gw: Stack) -> None:
    # Arrange: repays always pass the margin rules (repayLoan is risk-reducing by definition)
    gw.operator("POST", "halt", {"account": "main"})
    try:
        with binance_client(gw.gateway_url) as client:
            # Act
            with pytest.raises(BinanceAPIException) as paper_says:
                client.papi_repay_loan(asset="USDT", amount="1")
            headers = dict(client.response.headers)
    finally:
        gw.operator("POST", "resume", {"account": "main"})
    # Assert: the gateway let it through; the paper exchange refuses it (nothing is owed)
    assert headers["x-margin-gate-rule"] == "policy.risk_reducing"
    assert paper_says.value.code == -3015
    assert ("POST", "/papi/v1/repayLoan") in gw.orders_reached()


def test_order_when_engine_cannot_project_endpoint_then_2010(gw: Stack) -> None:
    # Act: a spot OCO order list (python-binance create_oco_order)
    exc, headers, reached = refused(
        gw,
        lambda c: c.create_oco_order(
            symbol="BTCUSDT", side="SELL", quantity="0.01", aboveType="LIMIT_MAKER",
            abovePrice="60000", belowType="STOP_LOSS", belowStopPrice="40000",
        ),
    )  # fmt: skip
    # Assert
    assert (exc.status_code, exc.code) == (400, -2010)
    assert "cannot be projected by the margin engine" in exc.message
    assert headers["x-margin-gate-rule"] == "policy.unsupported_endpoint"
    assert reached == []
