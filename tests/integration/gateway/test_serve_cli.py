"""`margin-gate serve`: the embedded default (gateway in front of the in-process paper
exchange) trades for the demo bot; a bad config exits 2 naming the key."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import REPO
from tests.support.servers import free_port
from tests.support.servers import run_cli

SECRETS = REPO / "config" / "dev-secrets"


def _signed(base: str, method: str, path: str, params: dict[str, str]) -> httpx.Response:
    key = (SECRETS / "bot-demo.key").read_text().strip()
    secret = (SECRETS / "bot-demo.secret").read_text().strip()
    query = "&".join(f"{k}={v}" for k, v in params.items())
    query += f"&timestamp={int(time.time() * 1000)}"
    query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return httpx.request(method, f"{base}{path}?{query}", headers={"X-MBX-APIKEY": key}, timeout=5)


@pytest.mark.timeout(60)
def test_serve_when_embedded_default_then_demo_bot_trades_on_paper() -> None:
    # Arrange
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "20000",
    }
    with run_cli(
        ["serve", "--config", "config/gateway.toml", "--port", str(port)],
        port=port,
        stderr=subprocess.DEVNULL,
    ):
        # Act
        placed = _signed(base, "POST", "/papi/v1/um/order", order)
        oid = str(placed.json().get("orderId"))
        queried = _signed(base, "GET", "/papi/v1/um/order", {"symbol": "BTCUSDT", "orderId": oid})
        cancelled = _signed(
            base, "DELETE", "/papi/v1/um/order", {"symbol": "BTCUSDT", "orderId": oid}
        )
        account = _signed(base, "GET", "/papi/v1/account", {})
    # Assert
    assert placed.status_code == 200, placed.text
    assert queried.json()["orderId"] == placed.json()["orderId"]
    assert cancelled.json()["status"] == "CANCELED"
    assert "uniMMR" in account.json()


def test_serve_when_config_invalid_then_exit_2_naming_the_key(tmp_path: Path) -> None:
    # Arrange
    config = tmp_path / "gw.toml"
    config.write_text(
        '[accounts.main]\napi_key = "exchangeKey1"\napi_secret = { env = "MG_NOT_SET_X" }\n'
    )
    # Act
    result = subprocess.run(
        [sys.executable, "-m", "margin_gate", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # Assert
    assert result.returncode == 2
    assert "accounts.main.api_secret: environment variable MG_NOT_SET_X is not set" in result.stderr
