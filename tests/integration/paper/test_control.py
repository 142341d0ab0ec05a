"""The control API: fault injection, state read, deposit and reset; absent unless enabled."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from margin_gate.paper import create_app
from tests.integration.paper.conftest import Control
from tests.integration.paper.conftest import integration_state
from tests.support.servers import serve_in_thread


def test_latency_applies_to_the_matching_path_only(client: Client, control: Control) -> None:
    control.post("/faults", {"kind": "latency", "ms": 300, "path": "/papi/v1/account", "count": 1})

    started = time.monotonic()
    client.papi_get_balance()
    quick = time.monotonic() - started
    started = time.monotonic()
    client.papi_get_account()
    slow = time.monotonic() - started

    assert quick < 0.25
    assert slow >= 0.3


def test_error_injection_for_the_next_request(client: Client, control: Control) -> None:
    control.post("/faults", {"kind": "error", "status": 502, "count": 1})

    with pytest.raises(BinanceAPIException) as caught:
        client.papi_get_account()
    assert caught.value.status_code == 502
    assert client.papi_get_account()["accountStatus"] == "NORMAL"


def test_timeout_hangs_then_answers_503_unknown_status(client: Client, control: Control) -> None:
    control.post(
        "/faults",
        {
            "kind": "timeout",
            "ms": 200,
            "path": "/papi/v1/um/order",
            "method": "POST",
            "execute": True,
        },
    )

    started = time.monotonic()
    with pytest.raises(BinanceAPIException) as caught:
        client.papi_create_um_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="1")
    elapsed = time.monotonic() - started

    assert (caught.value.status_code, caught.value.code) == (503, -1007)
    assert elapsed >= 0.2
    # "execution status unknown": with execute=true the order did go through
    assert client.papi_get_um_position_risk(symbol="BTCUSDT")[0]["positionAmt"] == "1.000"


def test_throttle_answers_minus_1008(client: Client, control: Control) -> None:
    control.post("/faults", {"kind": "throttle", "path": "/papi/v1/um/*", "count": 2})

    for _ in range(2):
        with pytest.raises(BinanceAPIException) as caught:
            client.papi_get_um_position_risk()
        assert (caught.value.status_code, caught.value.code) == (503, -1008)
    assert client.papi_get_um_position_risk()[0]["symbol"] == "BTCUSDT"


def test_state_read_deposit_and_reset(client: Client, control: Control) -> None:
    client.papi_create_um_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="1", price="40000"
    )
    control.post("/deposit", {"asset": "USDT", "amount": "500", "wallet": "um"})

    state = control.state()
    assert state["state"]["account"]["balances"]["USDT"]["um_wallet_balance"] == "10500"
    assert [o["price"] for o in state["openOrders"]] == ["40000.0"]
    assert state["uniMMR"] == client.papi_get_account()["uniMMR"]
    assert "secret" not in state["state"]["keys"][0]

    control.post("/reset")

    assert client.papi_get_balance(asset="USDT")["umWalletBalance"] == "10000.00000000"
    assert client.papi_get_um_open_orders() == []


def test_bad_control_requests_are_400(control: Control) -> None:
    response = control.http.post("/prices", json={"symbol": "NOPE", "mark": "1"})

    assert response.status_code == 400
    assert "unknown futures symbol" in response.json()["error"]


@pytest.fixture
def no_control_url() -> Iterator[str]:
    with serve_in_thread(create_app(integration_state())) as server:
        yield server.url


def test_control_api_is_absent_unless_enabled(no_control_url: str) -> None:
    response = httpx.get(f"{no_control_url}/paper/control/state", timeout=5)

    assert response.status_code == 404
    assert response.json()["code"] == -5000
