"""Public REST routes: ping, time, exchangeInfo, premiumIndex, collateral and index prices, and
the sapi lookups ccxt's loadMarkets makes (clients.md "Calls made before the first order")."""

from __future__ import annotations

from typing import Any

from margin_gate.paper import views_market
from margin_gate.paper.http import Call
from margin_gate.paper.http import Endpoint
from margin_gate.paper.http import Routes
from margin_gate.wire.errors import BAD_SYMBOL
from margin_gate.wire.errors import BinanceError

__all__ = ["public_routes"]


def _ping(call: Call) -> Any:
    return {}


def _time(call: Call) -> Any:
    return {"serverTime": call.exchange.now()}


def _premium(kind: str) -> Any:
    def handler(call: Call) -> Any:
        ex = call.exchange
        table = ex.state.um_symbols if kind == "UM" else ex.state.cm_symbols
        symbol = call.params.get("symbol")
        pair = call.params.get("pair")
        if symbol:
            spec = table.get(symbol)
            if spec is None:
                return BAD_SYMBOL
            row = views_market.premium_index(ex, spec)
            return row if kind == "UM" else [row]
        return [
            views_market.premium_index(ex, s) for s in table.values() if not pair or s.pair == pair
        ]

    return handler


def _asset_index(call: Call) -> Any:
    asset = call.params.get("asset")
    rows = views_market.asset_index_prices(call.exchange, asset)
    if asset and not rows:
        return BinanceError(-1121, "Invalid asset.")
    return rows


def public_routes() -> Routes:
    ping = Endpoint(_ping, "NONE")
    now = Endpoint(_time, "NONE")
    signed_empty = Endpoint(lambda call: [], "SIGNED")
    return {
        ("GET", "/api/v3/ping"): ping,
        ("GET", "/api/v3/time"): now,
        ("GET", "/fapi/v1/ping"): ping,
        ("GET", "/fapi/v1/time"): now,
        ("GET", "/dapi/v1/ping"): ping,
        ("GET", "/dapi/v1/time"): now,
        ("GET", "/papi/v1/ping"): ping,
        ("GET", "/sapi/v1/system/status"): Endpoint(
            lambda call: {"status": 0, "msg": "normal"}, "NONE"
        ),
        ("GET", "/fapi/v1/exchangeInfo"): Endpoint(
            lambda call: views_market.futures_exchange_info(call.exchange, "UM"), "NONE"
        ),
        ("GET", "/dapi/v1/exchangeInfo"): Endpoint(
            lambda call: views_market.futures_exchange_info(call.exchange, "CM"), "NONE"
        ),
        ("GET", "/api/v3/exchangeInfo"): Endpoint(
            lambda call: views_market.spot_exchange_info(call.exchange), "NONE", 20
        ),
        ("GET", "/fapi/v1/premiumIndex"): Endpoint(_premium("UM"), "NONE"),
        ("GET", "/dapi/v1/premiumIndex"): Endpoint(_premium("CM"), "NONE", 10),
        ("GET", "/sapi/v1/portfolio/collateralRate"): Endpoint(
            lambda call: views_market.collateral_rates(call.exchange), "NONE", 50
        ),
        ("GET", "/sapi/v1/portfolio/asset-index-price"): Endpoint(_asset_index, "NONE"),
        ("GET", "/sapi/v1/capital/config/getall"): Endpoint(
            lambda call: views_market.capital_config(call.exchange), "SIGNED", 10
        ),
        ("GET", "/sapi/v1/margin/allPairs"): Endpoint(
            lambda call: views_market.margin_all_pairs(call.exchange), "SIGNED"
        ),
        ("GET", "/sapi/v1/margin/isolated/allPairs"): signed_empty,
    }
