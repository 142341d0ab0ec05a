"""The what-if and account endpoints (same code path as enforcement), the operator API's token,
config reload, and refusals as the official PM SDK and ccxt surface them (clients.md §5)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.e2e.harness import BOTS
from tests.integration.e2e.harness import Stack
from tests.integration.e2e.harness import binance_client
from tests.integration.e2e.harness import stack

D = Decimal
BIG = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "12"}
SMALL = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.5", "price": "40000"}  # fmt: skip


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("api")) as s:
        yield s


def signed(s: Stack, method: str, path: str, params: dict[str, str], bot: str = "alpha") -> Any:
    key, secret, _ = BOTS[bot]
    payload = urlencode({**params, "timestamp": str(int(time.time() * 1000))})
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    target = f"{s.gateway_url}{path}?{payload}&signature={sig}"
    return s.http.request(method, target, headers={"X-MBX-APIKEY": key})


@pytest.mark.parametrize(("order", "decision"), [(BIG, "reject"), (SMALL, "accept")])
def test_check_when_order_given_then_same_verdict_as_enforcement(
    gw: Stack, order: dict[str, str], decision: str
) -> None:
    # Act
    before = len(gw.orders_reached())
    what_if = signed(gw, "POST", "/gateway/v1/check", {"endpoint": "/papi/v1/um/order", **order})
    sent_nothing = gw.orders_reached()[before:]
    with binance_client(gw.gateway_url) as c:
        try:
            placed = c.papi_create_um_order(**order)
            c.papi_cancel_um_order(symbol="BTCUSDT", orderId=placed["orderId"])
            enforced = "accept"
        except Exception:
            enforced = "reject"
    # Assert
    body = what_if.json()
    assert what_if.status_code == 200, what_if.text
    assert set(body) == {
        "decision",
        "rule",
        "code",
        "msg",
        "unimmr_before",
        "unimmr_after",
        "buffer",
        "equity_after",
        "maint_margin_after",
        "state_age_ms",
    }
    assert body["decision"] == enforced == decision
    assert body["buffer"] == "1.5"
    assert D(body["maint_margin_after"]) > D(1000)
    assert sent_nothing == []
    if decision == "reject":
        assert body["code"] == -2019
        assert body["rule"] == "policy.min_unimmr_after"
        assert D(body["unimmr_after"]) < D("1.5")


def test_check_when_not_an_order_endpoint_then_1102(gw: Stack) -> None:
    # Act
    answer = signed(gw, "POST", "/gateway/v1/check", {"endpoint": "/papi/v1/account",
                                                       "method": "GET"})  # fmt: skip
    # Assert
    assert (answer.status_code, answer.json()["code"]) == (400, -1102)


def test_account_when_asked_then_unimmr_status_buffers_and_in_flight(gw: Stack) -> None:
    # Act
    answer = signed(gw, "GET", "/gateway/v1/account", {}, bot="narrow")
    unsigned = gw.http.get(f"{gw.gateway_url}/gateway/v1/account")
    # Assert
    body = answer.json()
    assert answer.status_code == 200, answer.text
    assert D(body["unimmr"]) == D(10)
    assert body["account_status"] in ("NORMAL", None, "")
    assert body["profile"]["min_unimmr_after"] == "1.5"
    assert body["profile"]["allowed_symbols"] == ["ETHUSDT"]
    assert body["stale_reason"] is None
    assert isinstance(body["in_flight"], list)
    assert body["state_age_ms"] >= 0
    assert unsigned.status_code == 401


def test_operator_when_token_missing_wrong_or_bot_key_then_401(gw: Stack) -> None:
    # Act
    url = f"{gw.gateway_url}/operator/v1/halts"
    missing = gw.http.get(url)
    wrong = gw.http.get(url, headers={"Authorization": "Bearer nope"})
    bot_key = gw.http.get(url, headers={"X-MBX-APIKEY": BOTS["alpha"][0]})
    bot_signed = signed(gw, "GET", "/operator/v1/halts", {})
    # Assert
    for answer in (missing, wrong, bot_key, bot_signed):
        assert answer.status_code == 401
        assert answer.json()["code"] == -1002


def test_operator_when_unknown_account_then_400(gw: Stack) -> None:
    # Act
    answer = gw.operator("POST", "halt", {"account": "nope"})
    # Assert
    assert answer.status_code == 400
    assert "unknown account" in answer.json()["error"]


def test_sdk_when_buffer_breached_then_bad_request_with_our_message(gw: Stack) -> None:
    # Arrange (clients.md: base_path = the gateway)
    from binance_common.configuration import ConfigurationRestAPI
    from binance_common.errors import BadRequestError
    from binance_sdk_derivatives_trading_portfolio_margin import DerivativesTradingPortfolioMargin
    from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewUmOrderSideEnum
    from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewUmOrderTypeEnum

    key, secret, _ = BOTS["alpha"]
    cfg = ConfigurationRestAPI(api_key=key, api_secret=secret, base_path=gw.gateway_url,
                               timeout=5000)  # fmt: skip
    pm = DerivativesTradingPortfolioMargin(config_rest_api=cfg).rest_api
    before = len(gw.orders_reached())
    # Act
    with pytest.raises(BadRequestError) as refused:
        pm.new_um_order(symbol="BTCUSDT", side=NewUmOrderSideEnum.BUY,
                        type=NewUmOrderTypeEnum.MARKET, quantity=12.0)  # fmt: skip
    # Assert
    assert "Margin is insufficient. margin-gate: projected uniMMR" in str(refused.value)
    assert gw.orders_reached()[before:] == []


def test_ccxt_when_buffer_breached_then_exchange_error_with_our_message(gw: Stack) -> None:
    # Arrange (clients.md: rewrite urls['api']; portfolioMargin routes UM orders to /papi)
    import ccxt

    key, secret, _ = BOTS["alpha"]
    options = {"portfolioMargin": True, "fetchCurrencies": False, "fetchMargins": False,
               "fetchMarkets": {"types": ["linear"]}}  # fmt: skip
    ex = ccxt.binance({"apiKey": key, "secret": secret, "options": options})
    for name, url in list(ex.urls["api"].items()):
        ex.urls["api"][name] = re.sub(r"^https?://[^/]+", gw.gateway_url, url)
    before = len(gw.orders_reached())
    # Act
    with pytest.raises(ccxt.ExchangeError) as refused:
        ex.create_order("BTC/USDT:USDT", "market", "buy", 12)
    # Assert
    assert "-2019" in str(refused.value)
    assert "margin-gate: projected uniMMR" in str(refused.value)
    assert gw.orders_reached()[before:] == []


def test_reload_when_profile_tightened_then_applies_and_bad_file_keeps_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a gateway whose settings came from a TOML file
    from margin_gate.settings import load_settings
    from tests.integration.e2e import harness

    for name, value in harness.env().items():
        monkeypatch.setenv(name, value)

    with stack(tmp_path) as s:
        config = tmp_path / "gw.toml"
        config.write_text(_toml(s.paper_url, floor="1.5"))
        s.app.settings = load_settings(config, env=harness.env())
        what_if = {"endpoint": "/papi/v1/um/order", **SMALL, "quantity": "8"}
        before = signed(s, "POST", "/gateway/v1/check", what_if).json()
        # Act
        config.write_text(_toml(s.paper_url, floor="8.5"))
        reloaded = s.operator("POST", "reload")
        after = signed(s, "POST", "/gateway/v1/check", what_if).json()
        config.write_text(_toml(s.paper_url, floor="8.5") + "typo = 1\n")
        bad = s.operator("POST", "reload")
        config.write_text(_toml(s.paper_url, floor="8.5").replace("3.0", "4.0"))
        upstream_change = s.operator("POST", "reload")
        still = signed(s, "POST", "/gateway/v1/check", what_if).json()
        events = [r["msg"] for r in s.audit_records() if r["kind"] == "event"]
    # Assert
    assert before["decision"] == "accept"
    assert reloaded.status_code == 200, reloaded.text
    assert after["decision"] == "reject"
    assert after["rule"] == "policy.min_unimmr_after"
    assert bad.status_code == 400
    assert bad.json()["error"] == "profiles.default.typo: unknown key"
    assert upstream_change.status_code == 400
    assert "upstream" in upstream_change.json()["error"]
    assert still["decision"] == "reject"  # the good reload stays in force
    assert "operator reload" in events
    assert "operator reload refused" in events


def _toml(paper_url: str, floor: str) -> str:
    from tests.integration.e2e import harness

    cfg = harness.gateway_settings(paper_url, None, profiles={"default": {}})
    urls = "\n".join(f'{p} = "{u}"' for p, u in cfg["upstream"]["urls"].items())
    bots = "\n".join(
        f'[bots.{n}]\napi_key = "{k}"\nsecret = {{ env = "MG_BOT_{n.upper()}" }}\n'
        for n, (k, _, _) in harness.BOTS.items()
    )
    return f"""
[upstream]
timeout_s = 3.0
[upstream.urls]
{urls}
[accounts.main]
api_key = "{cfg["accounts"]["main"]["api_key"]}"
api_secret = {{ env = "MG_PAPER_SECRET" }}
profile = "default"
{bots}
[profiles.default]
min_unimmr_after = "{floor}"
"""


@pytest.mark.parametrize("passthrough", [False, True])
def test_audit_when_reads_and_cancels_then_cancels_always_reads_only_with_passthrough(
    tmp_path: Path, passthrough: bool
) -> None:
    with stack(tmp_path, extra={"audit": {"passthrough": passthrough}}) as s:
        with binance_client(s.gateway_url) as c:
            # Act
            c.papi_get_account()
            read_id = c.response.headers["x-request-id"]
            placed = c.papi_create_um_order(**SMALL)
            c.papi_cancel_um_order(symbol="BTCUSDT", orderId=placed["orderId"])
            cancel_id = c.response.headers["x-request-id"]
        records = s.audit_records()
    # Assert
    by_id = {(r.get("request_id"), r["kind"]): r for r in records}
    assert by_id[(cancel_id, "decision")]["decision"] == "accept"
    assert by_id[(cancel_id, "outcome")]["exchange_status"] == 200
    if passthrough:
        assert by_id[(read_id, "decision")]["decision"] == "pass"
        assert by_id[(read_id, "outcome")]["exchange_status"] == 200
    else:
        assert (read_id, "decision") not in by_id
