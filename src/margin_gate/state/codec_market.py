"""Market-wide JSON → margin model: exchangeInfo, brackets, collateral rates, index and marks.

Pure, like `codec.py`. Sources: binance-pm.md §5.1–§5.3 (exchangeInfo and filters), §1.5
(brackets), §1.6 (collateral rates, asset index prices), §4.3 (premiumIndex).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from typing import cast

from margin_gate.margin.model import Bracket
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import CollateralTier
from margin_gate.margin.model import FuturesMarket
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Market
from margin_gate.state.numbers import CodecError
from margin_gate.state.numbers import dec
from margin_gate.state.numbers import dec_or_none
from margin_gate.state.numbers import int_or_zero

__all__ = [
    "PriceTick",
    "parse_asset_index",
    "parse_brackets",
    "parse_collateral_rates",
    "parse_exchange_info",
    "parse_premium_index",
]


@dataclass(frozen=True, slots=True)
class PriceTick:
    """A price with the exchange time it is from (ms)."""

    price: Decimal
    time: int


def _items(raw: object, where: str) -> list[Mapping[str, Any]]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise CodecError(f"{where}: expected a list of objects")
    return cast(list[Mapping[str, Any]], raw)


def _filters(o: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for f in o.get("filters") or ():
        if isinstance(f, dict) and isinstance(f.get("filterType"), str):
            found[f["filterType"]] = f
    return found


def _opt(f: Mapping[str, Any] | None, key: str, where: str) -> Decimal | None:
    if f is None:
        return None
    return dec_or_none(f.get(key), f"{where}.{key}")


def _enabled(value: Decimal | None) -> Decimal | None:
    """A filter bound, or None when it is absent or 0 (disabled, binance-pm.md §5.1)."""
    return value if value is not None and value > 0 else None


def parse_exchange_info(raw: object, market: Market) -> dict[tuple[Market, str], Instrument]:
    """`/fapi/v1/exchangeInfo` (UM), `/dapi/v1/exchangeInfo` (CM) or `/api/v3/exchangeInfo`
    (MARGIN: spot pairs; a pair with `isMarginTradingAllowed: false` is skipped) (§5)."""
    if not isinstance(raw, dict):
        raise CodecError(f"{market} exchangeInfo: expected an object")
    instruments: dict[tuple[Market, str], Instrument] = {}
    for i, o in enumerate(_items(raw.get("symbols", []), f"{market} exchangeInfo.symbols")):
        w = f"{market} exchangeInfo.symbols[{i}]"
        if market == "MARGIN" and o.get("isMarginTradingAllowed") is False:
            continue
        symbol, base, quote = o.get("symbol"), o.get("baseAsset"), o.get("quoteAsset")
        if not (isinstance(symbol, str) and isinstance(base, str) and isinstance(quote, str)):
            raise CodecError(f"{w}: symbol, baseAsset and quoteAsset are required")
        f = _filters(o)
        price, lot = f.get("PRICE_FILTER"), f.get("LOT_SIZE")
        percent = f.get("PERCENT_PRICE")
        if market == "UM":
            margin_asset = str(o.get("marginAsset") or quote)
        elif market == "CM":
            margin_asset = str(o.get("marginAsset") or base)
        else:
            margin_asset = quote
        size = dec(o.get("contractSize", 1), f"{w}.contractSize") if market == "CM" else Decimal(1)
        instruments[(market, symbol)] = Instrument(
            symbol=symbol,
            market=market,
            base_asset=base,
            quote_asset=quote,
            margin_asset=margin_asset,
            contract_size=size,
            tick_size=_opt(price, "tickSize", w) or Decimal(0),
            step_size=_opt(lot, "stepSize", w) or Decimal(0),
            min_qty=_opt(lot, "minQty", w) or Decimal(0),
            # §5.1: 0 disables a filter; as a cap it would mean "no slippage at all".
            percent_price_up=_enabled(_opt(percent, "multiplierUp", w)),
            percent_price_down=_enabled(_opt(percent, "multiplierDown", w)),
            market_take_bound=_enabled(
                dec_or_none(o.get("marketTakeBound"), f"{w}.marketTakeBound")
            ),
        )
    return instruments


def parse_brackets(raw: object, market: FuturesMarket) -> dict[str, tuple[Bracket, ...]]:
    """`/papi/v1/um/leverageBracket` (USD notional bounds) or `/papi/v1/cm/leverageBracket`
    (coin quantity bounds `qtyFloor`/`qtyCap`) (§1.5). `notionalCoef` is not applied: the
    documented brackets are already the user's (UNCONFIRMED, docs/state.md)."""
    lo, hi = ("notionalFloor", "notionalCap") if market == "UM" else ("qtyFloor", "qtyCap")
    tables: dict[str, tuple[Bracket, ...]] = {}
    for i, o in enumerate(_items(raw, f"{market} leverageBracket")):
        w = f"{market} leverageBracket[{i}]"
        symbol = o.get("symbol")
        if not isinstance(symbol, str):
            raise CodecError(f"{w}.symbol: expected a string")
        rows = []
        for j, b in enumerate(_items(o.get("brackets", []), f"{w}.brackets")):
            bw = f"{w}.brackets[{j}]"
            rows.append(
                Bracket(
                    floor=dec(b.get(lo), f"{bw}.{lo}"),
                    cap=dec(b.get(hi), f"{bw}.{hi}"),
                    maint_margin_ratio=dec(b.get("maintMarginRatio"), f"{bw}.maintMarginRatio"),
                    cum=dec(b.get("cum", 0), f"{bw}.cum"),
                )
            )
        if not rows:
            raise CodecError(f"{w}.brackets: empty")
        tables[symbol] = tuple(sorted(rows, key=lambda r: r.floor))
    return tables


def parse_collateral_rates(raw: object) -> dict[str, CollateralRate]:
    """`/sapi/v1/portfolio/collateralRate` (`[{asset, collateralRate}]`) or the tiered v2 shape
    (`[{asset, collateralInfo: [{tierFloor, tierCap, collateralRate}]}]`) (§1.6)."""
    rates: dict[str, CollateralRate] = {}
    for i, o in enumerate(_items(raw, "collateralRate")):
        w = f"collateralRate[{i}]"
        asset = o.get("asset")
        if not isinstance(asset, str):
            raise CodecError(f"{w}.asset: expected a string")
        info = o.get("collateralInfo")
        if isinstance(info, list) and info:
            tiers = []
            for j, t in enumerate(_items(info, f"{w}.collateralInfo")):
                tw = f"{w}.collateralInfo[{j}]"
                tiers.append(
                    CollateralTier(
                        floor=dec(t.get("tierFloor"), f"{tw}.tierFloor"),
                        cap=dec_or_none(t.get("tierCap"), f"{tw}.tierCap"),
                        rate=dec(t.get("collateralRate"), f"{tw}.collateralRate"),
                    )
                )
            rates[asset] = tuple(sorted(tiers, key=lambda t: t.floor))
        else:
            rates[asset] = dec(o.get("collateralRate"), f"{w}.collateralRate")
    return rates


def parse_asset_index(raw: object) -> dict[str, PriceTick]:
    """`/sapi/v1/portfolio/asset-index-price` → asset → USD index price (§1.6)."""
    prices: dict[str, PriceTick] = {}
    for i, o in enumerate(_items(raw, "asset-index-price")):
        w = f"asset-index-price[{i}]"
        asset = o.get("asset")
        if not isinstance(asset, str):
            raise CodecError(f"{w}.asset: expected a string")
        prices[asset] = PriceTick(
            dec(o.get("assetIndexPrice"), f"{w}.assetIndexPrice"), int_or_zero(o.get("time"))
        )
    return prices


def parse_premium_index(raw: object) -> dict[str, PriceTick]:
    """`/fapi/v1/premiumIndex` or `/dapi/v1/premiumIndex` → symbol → mark price (§4.3)."""
    marks: dict[str, PriceTick] = {}
    for i, o in enumerate(_items(raw, "premiumIndex")):
        w = f"premiumIndex[{i}]"
        symbol = o.get("symbol")
        if not isinstance(symbol, str):
            raise CodecError(f"{w}.symbol: expected a string")
        marks[symbol] = PriceTick(
            dec(o.get("markPrice"), f"{w}.markPrice"), int_or_zero(o.get("time"))
        )
    return marks
