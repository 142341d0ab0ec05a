"""Unmodified client libraries, holding only a gateway key, trade through the gateway.

Each library is pointed at the gateway the way clients.md documents, places, queries and
cancels an order, and every request the upstream received verified with the EXCHANGE secret.
binance-futures-connector clashes with python-binance's `binance` package, so it runs in its
own venv (.venvs/futures-connector, made by scripts/test) in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.gateway.conftest import BOT_KEY
from tests.integration.gateway.conftest import BOT_SECRET
from tests.integration.gateway.conftest import GatewayClient
from tests.support.servers import REPO
from tests.support.upstream import VerifyingUpstream

SIDE_PYTHON = REPO / ".venvs" / "futures-connector" / "bin" / "python"
CONNECTOR_BOT = (
    Path(__file__).resolve().parents[2] / "support" / "clients" / "futures_connector_bot.py"
)


def _assert_all_verified(up: VerifyingUpstream) -> None:
    signed = [r for r in up.received if r.signed]
    assert signed, "no signed request reached the upstream"
    assert all(r.verified for r in signed), [(r.path, r.error) for r in signed]
    assert all(BOT_KEY not in str(r.headers) for r in up.received)


def test_python_binance_when_pointed_at_gateway_then_places_queries_cancels(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange (clients.md: URL roots are class attributes; Client() pings on construction)
    from binance.client import Client
    from binance.exceptions import BinanceAPIException

    b = gw.url
    roots = {
        "API_URL": f"{b}/api",
        "MARGIN_API_URL": f"{b}/sapi",
        "FUTURES_URL": f"{b}/fapi",
        "FUTURES_DATA_URL": f"{b}/futures/data",
        "FUTURES_COIN_URL": f"{b}/dapi",
        "FUTURES_COIN_DATA_URL": f"{b}/futures/data",
        "OPTIONS_URL": f"{b}/eapi",
        "PAPI_URL": f"{b}/papi",
    }
    gw_client: Any = type("GwClient", (Client,), roots)
    # python-binance grabs (and creates) the thread's event loop in its constructor; give it
    # one we close afterwards, or its sockets leak into later tests.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        client = gw_client(BOT_KEY, BOT_SECRET)
        wrong = gw_client(BOT_KEY, "not-the-secret", ping=False)
        # Act
        placed = client.papi_create_um_order(
            symbol="BTCUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.001",
            price="30000",
        )
        queried = client.papi_get_um_order(symbol="BTCUSDT", orderId=placed["orderId"])
        cancelled = client.papi_cancel_um_order(symbol="BTCUSDT", orderId=placed["orderId"])
        futures = client.futures_create_order(
            symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="9"
        )
        with pytest.raises(BinanceAPIException) as refused:
            wrong.papi_create_um_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="1")
        client.close_connection()
        wrong.close_connection()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    # Assert
    assert queried["orderId"] == placed["orderId"]
    assert cancelled["status"] == "CANCELED"
    assert futures["status"] == "NEW"
    assert (refused.value.status_code, refused.value.code) == (400, -1022)
    assert [(r.method, r.path) for r in up.received] == [
        ("GET", "/api/v3/ping"),
        ("POST", "/papi/v1/um/order"),
        ("GET", "/papi/v1/um/order"),
        ("DELETE", "/papi/v1/um/order"),  # python-binance sends DELETE params in a body
        ("POST", "/fapi/v1/order"),
    ]
    _assert_all_verified(up)


def _point_at(exchange: Any, base: str) -> Any:
    for name, url in list(exchange.urls["api"].items()):
        exchange.urls["api"][name] = re.sub(r"^https?://[^/]+", base, url)
    return exchange


def test_ccxt_when_portfolio_margin_then_orders_go_to_papi(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange (clients.md: rewrite urls['api']; portfolioMargin routes UM orders to /papi)
    import ccxt

    options = {
        "portfolioMargin": True,
        "fetchCurrencies": False,
        "fetchMargins": False,
        "fetchMarkets": {"types": ["linear"]},
    }
    exchange = _point_at(
        ccxt.binance({"apiKey": BOT_KEY, "secret": BOT_SECRET, "options": options}), gw.url
    )
    # Act
    placed = exchange.create_order("BTC/USDT:USDT", "limit", "buy", 0.001, 30000)
    fetched = exchange.fetch_order(placed["id"], "BTC/USDT:USDT")
    cancelled = exchange.cancel_order(placed["id"], "BTC/USDT:USDT")
    # Assert
    assert fetched["id"] == placed["id"]
    assert cancelled["status"] == "canceled"
    assert [(r.method, r.path) for r in up.received] == [
        ("GET", "/fapi/v1/exchangeInfo"),
        ("POST", "/papi/v1/um/order"),
        ("GET", "/papi/v1/um/order"),
        ("DELETE", "/papi/v1/um/order"),
    ]
    assert up.received[1].param("quantity") == "0.001"
    _assert_all_verified(up)


def test_official_pm_sdk_when_base_path_is_gateway_then_places_queries_cancels(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange (clients.md: base_path replaces the product root; the SDK sends str(float))
    from binance_common.configuration import ConfigurationRestAPI
    from binance_sdk_derivatives_trading_portfolio_margin import DerivativesTradingPortfolioMargin
    from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewUmOrderSideEnum
    from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import (
        NewUmOrderTimeInForceEnum,
    )
    from binance_sdk_derivatives_trading_portfolio_margin.rest_api.models import NewUmOrderTypeEnum

    config = ConfigurationRestAPI(
        api_key=BOT_KEY, api_secret=BOT_SECRET, base_path=gw.url, timeout=5000
    )
    pm = DerivativesTradingPortfolioMargin(config_rest_api=config).rest_api
    # Act
    placed = pm.new_um_order(
        symbol="BTCUSDT",
        side=NewUmOrderSideEnum.BUY,
        type=NewUmOrderTypeEnum.LIMIT,
        time_in_force=NewUmOrderTimeInForceEnum.GTC,
        quantity=0.00001,
        price=30000.0,
    ).data()
    queried = pm.query_um_order(symbol="BTCUSDT", order_id=placed.order_id).data()
    cancelled = pm.cancel_um_order(symbol="BTCUSDT", order_id=placed.order_id).data()
    # Assert
    assert queried.order_id == placed.order_id
    assert cancelled.status == "CANCELED"
    assert [(r.method, r.path) for r in up.received] == [
        ("POST", "/papi/v1/um/order"),
        ("GET", "/papi/v1/um/order"),
        ("DELETE", "/papi/v1/um/order"),
    ]
    order = up.received[0]
    assert (order.param("quantity"), order.param("price")) == ("1e-05", "30000.0")
    _assert_all_verified(up)


def test_futures_connector_when_base_url_is_gateway_then_places_queries_cancels(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    if not SIDE_PYTHON.exists():
        message = "run scripts/test once: it creates .venvs/futures-connector"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Act
    result = subprocess.run(
        [str(SIDE_PYTHON), str(CONNECTOR_BOT), gw.url, BOT_KEY, BOT_SECRET],
        capture_output=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"},
    )
    # Assert
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    out = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert out["queried"]["orderId"] == out["placed"]["orderId"]
    assert out["cancelled"]["status"] == "CANCELED"
    assert out["papi"]["status"] == "NEW"
    assert out["refused"] == [400, -1022]
    assert [(r.method, r.path) for r in up.received] == [
        ("POST", "/fapi/v1/order"),
        ("GET", "/fapi/v1/order"),
        ("DELETE", "/fapi/v1/order"),
        ("POST", "/papi/v1/um/order"),
    ]
    assert up.received[0].param("quantity") == "1e-05"
    _assert_all_verified(up)
