"""Public market JSON: exchangeInfo (fapi, dapi, spot), premiumIndex, collateral rates, asset
index prices, and the minimal sapi answers ccxt's loadMarkets needs (binance-pm.md §5, clients.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from margin_gate.paper.numbers import fmt8
from margin_gate.paper.numbers import places_of
from margin_gate.paper.numbers import plain
from margin_gate.paper.schema import Filters
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import MarginSymbol

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = [
    "asset_index_prices",
    "capital_config",
    "collateral_rates",
    "futures_exchange_info",
    "margin_all_pairs",
    "next_funding_time",
    "premium_index",
    "spot_exchange_info",
]

Json = dict[str, Any]
_EIGHT_HOURS = 8 * 3600 * 1000
_FUTURES_ORDER_TYPES = [
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]


def next_funding_time(now_ms: int) -> int:
    return (now_ms // _EIGHT_HOURS + 1) * _EIGHT_HOURS


def _rate_limits(weight: int, orders: int) -> list[Json]:
    return [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": weight,
        },
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": orders},
    ]


def _futures_filters(f: Filters, kind: str) -> list[Json]:
    filters: list[Json] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": plain(f.min_price),
            "maxPrice": plain(f.max_price),
            "tickSize": plain(f.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": plain(f.min_qty),
            "maxQty": plain(f.max_qty),
            "stepSize": plain(f.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": plain(f.min_qty),
            "maxQty": plain(f.max_qty),
            "stepSize": plain(f.step_size),
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": f.max_num_orders},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": plain(f.multiplier_up),
            "multiplierDown": plain(f.multiplier_down),
            "multiplierDecimal": "4",
        },
    ]
    if kind == "UM":
        filters.append({"filterType": "MIN_NOTIONAL", "notional": plain(f.min_notional)})
    return filters


def _futures_symbol(spec: FuturesSymbol) -> Json:
    f = spec.filters
    body: Json = {
        "symbol": spec.symbol,
        "pair": spec.pair,
        "contractType": spec.contract_type,
        "deliveryDate": spec.delivery_date,
        "onboardDate": spec.onboard_date,
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.margin_asset,
        "pricePrecision": places_of(f.tick_size),
        "quantityPrecision": places_of(f.step_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": plain(f.market_take_bound),
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "filters": _futures_filters(f, spec.kind),
        "orderTypes": _FUTURES_ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }
    if spec.kind == "UM":
        body["status"] = "TRADING"
        body["settlePlan"] = 0
    else:
        body["contractStatus"] = "TRADING"
        body["contractSize"] = int(spec.contract_size)
        body["equalQtyPrecision"] = 4
    return body


def futures_exchange_info(ex: PaperExchange, kind: str) -> Json:
    """GET /fapi/v1/exchangeInfo (UM) or /dapi/v1/exchangeInfo (CM)."""
    table = ex.state.um_symbols if kind == "UM" else ex.state.cm_symbols
    margin_assets = sorted({s.margin_asset for s in table.values()})
    body: Json = {
        "timezone": "UTC",
        "serverTime": ex.now(),
        "rateLimits": _rate_limits(2400 if kind == "UM" else 6000, 1200 if kind == "UM" else 6000),
        "exchangeFilters": [],
        "symbols": [_futures_symbol(s) for s in table.values()],
    }
    if kind == "UM":
        body["futuresType"] = "U_MARGINED"
        body["assets"] = [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"}
            for a in margin_assets
        ]
    return body


def _spot_symbol(spec: MarginSymbol) -> Json:
    f = spec.filters
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": plain(f.min_price),
                "maxPrice": plain(f.max_price),
                "tickSize": plain(f.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": plain(f.min_qty),
                "maxQty": plain(f.max_qty),
                "stepSize": plain(f.step_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": plain(f.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def spot_exchange_info(ex: PaperExchange) -> Json:
    """GET /api/v3/exchangeInfo: the cross-margin symbols."""
    return {
        "timezone": "UTC",
        "serverTime": ex.now(),
        "rateLimits": _rate_limits(6000, 1200),
        "exchangeFilters": [],
        "symbols": [_spot_symbol(s) for s in ex.state.margin_symbols.values()],
    }


def premium_index(ex: PaperExchange, spec: FuturesSymbol) -> Json:
    now = ex.now()
    perpetual = spec.contract_type == "PERPETUAL"
    mark = ex.ledger.mark[spec.symbol]
    body: Json = {
        "symbol": spec.symbol,
        "markPrice": fmt8(mark),
        "indexPrice": fmt8(ex.ledger.index[spec.symbol]),
        "estimatedSettlePrice": fmt8(mark),
        "lastFundingRate": fmt8(spec.funding_rate) if perpetual else "",
        "interestRate": "0.00010000" if perpetual else "",
        "nextFundingTime": next_funding_time(now) if perpetual else 0,
        "time": now,
    }
    if spec.kind == "CM":
        body["pair"] = spec.pair
    return body


def collateral_rates(ex: PaperExchange) -> list[Json]:
    """GET /sapi/v1/portfolio/collateralRate (flat rates; 4 decimals like the sample)."""
    state = ex.state
    assets = sorted(set(state.collateral_rates) | set(ex.ledger.asset_index))
    rates = {a: state.collateral_rates.get(a, state.default_collateral_rate) for a in assets}
    return [{"asset": a, "collateralRate": f"{rate:.4f}"} for a, rate in rates.items()]


def asset_index_prices(ex: PaperExchange, asset: str | None) -> list[Json]:
    now = ex.now()
    return [
        {"asset": a, "assetIndexPrice": fmt8(p), "time": now}
        for a, p in sorted(ex.ledger.asset_index.items())
        if asset is None or a == asset
    ]


def capital_config(ex: PaperExchange) -> list[Json]:
    """GET /sapi/v1/capital/config/getall: one row per asset, no networks (ccxt reads it)."""
    rows = []
    for asset in sorted(ex.ledger.asset_index):
        bal = ex.ledger.balances.get(asset)
        rows.append(
            {
                "coin": asset,
                "name": asset,
                "depositAllEnable": False,
                "withdrawAllEnable": False,
                "free": fmt8(bal.free) if bal else "0",
                "locked": fmt8(bal.locked) if bal else "0",
                "freeze": "0",
                "withdrawing": "0",
                "ipoing": "0",
                "ipoable": "0",
                "storage": "0",
                "isLegalMoney": False,
                "trading": True,
                "networkList": [],
            }
        )
    return rows


def margin_all_pairs(ex: PaperExchange) -> list[Json]:
    """GET /sapi/v1/margin/allPairs."""
    return [
        {
            "id": i,
            "symbol": s.symbol,
            "base": s.base,
            "quote": s.quote,
            "isMarginTrade": True,
            "isBuyAllowed": True,
            "isSellAllowed": True,
        }
        for i, s in enumerate(ex.state.margin_symbols.values(), start=1)
    ]
