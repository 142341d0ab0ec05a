"""The paper exchange driven by unmodified ccxt: loadMarkets' pre-flight calls, PM orders routed
to /papi/v1/{um,cm,margin}/order, balances and positions, and the classic binanceusdm class."""

from __future__ import annotations

import re
from typing import Any

import ccxt

from tests.integration.paper.conftest import KEY
from tests.integration.paper.conftest import SECRET
from tests.integration.paper.conftest import Control


def point_at(exchange: Any, base: str) -> Any:
    """clients.md "ccxt": every REST root lives in exchange.urls['api']."""
    for name, url in list(exchange.urls["api"].items()):
        exchange.urls["api"][name] = re.sub(r"^https?://[^/]+", base, url)
    return exchange


def test_portfolio_margin_orders_balances_and_positions(paper_url: str, control: Control) -> None:
    ex = point_at(
        ccxt.binance({"apiKey": KEY, "secret": SECRET, "options": {"portfolioMargin": True}}),
        paper_url,
    )

    ex.load_markets()  # getall, margin/allPairs, isolated/allPairs and three exchangeInfo calls
    um = ex.create_order("BTC/USDT:USDT", "market", "buy", 0.01)
    cm = ex.create_order("BTC/USD:BTC", "market", "buy", 1)
    margin = ex.create_order("BTC/USDT", "market", "buy", 0.001, None, {"marginMode": "cross"})

    assert (um["status"], um["filled"], um["average"]) == ("closed", 0.01, 50000.0)
    assert (cm["status"], cm["filled"]) == ("closed", 1.0)
    assert (margin["status"], margin["filled"]) == ("closed", 0.001)
    [position] = ex.fetch_positions(["BTC/USDT:USDT"])
    assert position["contracts"] == 2.01
    balance = ex.fetch_balance()
    assert balance["total"]["USDT"] > 10000
    assert control.state()["accountStatus"] == "NORMAL"


def test_binanceusdm_limit_order_and_cancel(paper_url: str, control: Control) -> None:
    ex = point_at(ccxt.binanceusdm({"apiKey": KEY, "secret": SECRET}), paper_url)

    order = ex.create_order("ETH/USDT:USDT", "limit", "sell", 0.01, 3100)
    cancelled = ex.cancel_order(order["id"], "ETH/USDT:USDT")

    assert order["status"] == "open"
    assert cancelled["status"] == "canceled"
