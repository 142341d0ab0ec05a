"""Mark prices: the combined mark price stream, a REST fallback while it is down, and the
asset index poll (binance-pm.md §4.3, §1.6).

- Stream: `<base><path>?streams=!markPrice@arr@1s/<cm symbol>@markPrice@1s...` (UM: every
  symbol in one array stream; CM: one stream per COIN-M symbol the instruments list).
- While the stream is down: `GET /fapi/v1/premiumIndex` and `/dapi/v1/premiumIndex` every
  `price_rest_interval_s` (one call each, all symbols).
- Asset index prices (USD, for collateral valuation) have no stream: `GET
  /sapi/v1/portfolio/asset-index-price?asset=` per relevant asset every `asset_index_interval_s`.
Every tick is stamped with its local receive time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from margin_gate.clock import Clock
from margin_gate.state.codec_market import PriceTick
from margin_gate.state.codec_market import parse_asset_index
from margin_gate.state.codec_market import parse_premium_index
from margin_gate.state.config import StateConfig
from margin_gate.state.numbers import dec
from margin_gate.state.rest import ExchangeError
from margin_gate.state.rest import ExchangeRest
from margin_gate.state.userstream import Backoff

__all__ = ["MarkStream", "poll_asset_index", "stream_names"]

_log = logging.getLogger("margin_gate.state.marks")
Prices = Callable[[Mapping[str, PriceTick], Mapping[str, PriceTick]], Awaitable[None]]


def stream_names(cm_symbols: Iterable[str], suffix: str) -> list[str]:
    return [f"!markPrice@arr{suffix.removeprefix('@markPrice')}"] + [
        f"{s.lower()}{suffix}" for s in sorted(cm_symbols)
    ]


class MarkStream:
    """Keeps mark prices coming: the stream when up, REST polling when down."""

    def __init__(
        self,
        rest: ExchangeRest,
        session: aiohttp.ClientSession,
        url: str,
        config: StateConfig,
        clock: Clock,
        on_prices: Prices,
        cm_symbols: Callable[[], Iterable[str]],
    ) -> None:
        self.rest, self.session, self.url = rest, session, url.rstrip("/")
        self.config, self.clock, self._on_prices = config, clock, on_prices
        self._cm_symbols = cm_symbols
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self.connected = False
        self.reconnects = 0
        self.rest_polls = 0
        self.ticks = 0

    async def run(self) -> None:
        while True:
            try:
                await self._stream()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("mark price stream: %s: %s", type(exc).__name__, exc)
            self.connected = False
            self.reconnects += 1
            await self._poll_until(self.backoff.next())

    async def _poll_until(self, seconds: float) -> None:
        """REST fallback while the stream is down (at least one poll per gap)."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            await self.poll_rest()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, self.config.price_rest_interval_s))

    async def poll_rest(self) -> None:
        try:
            um, cm = await asyncio.gather(
                self.rest.get("/fapi/v1/premiumIndex", security="NONE"),
                self.rest.get("/dapi/v1/premiumIndex", security="NONE"),
            )
        except ExchangeError as exc:
            _log.warning("premiumIndex fallback failed: %s", exc)
            return
        self.rest_polls += 1
        now = self.clock.now_ms()
        marks = {**parse_premium_index(um), **parse_premium_index(cm)}
        await self._on_prices({s: PriceTick(t.price, now) for s, t in marks.items()}, {})

    async def _stream(self) -> None:
        names = stream_names(self._cm_symbols(), self.config.mark_stream_suffix)
        url = f"{self.url}{self.config.market_stream_path}?streams={'/'.join(names)}"
        async with self.session.ws_connect(url, heartbeat=self.config.ws_ping_interval_s) as ws:
            self.connected = True
            self.backoff.reset()
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                marks = _marks(orjson.loads(msg.data), self.clock.now_ms())
                if marks:
                    self.ticks += 1
                    await self._on_prices(marks, {})


def _marks(message: Any, now: int) -> dict[str, PriceTick]:
    data = message.get("data", message) if isinstance(message, dict) else message
    items = data if isinstance(data, list) else [data]
    marks: dict[str, PriceTick] = {}
    for item in items:
        if isinstance(item, dict) and item.get("e") == "markPriceUpdate":
            marks[str(item["s"])] = PriceTick(dec(item["p"], "markPriceUpdate.p"), now)
    return marks


async def poll_asset_index(
    rest: ExchangeRest, assets: Iterable[str], clock: Clock
) -> dict[str, PriceTick]:
    """Asset index prices of `assets` (one weight-1 call each); failures skip that asset."""

    async def one(asset: str) -> dict[str, PriceTick]:
        try:
            raw = await rest.get(
                "/sapi/v1/portfolio/asset-index-price", {"asset": asset}, security="NONE"
            )
        except ExchangeError as exc:
            _log.warning("asset index %s: %s", asset, exc)
            return {}
        now = clock.now_ms()
        return {a: PriceTick(t.price, now) for a, t in parse_asset_index(raw).items()}

    found: dict[str, PriceTick] = {}
    for part in await asyncio.gather(*(one(a) for a in sorted(set(assets)))):
        found.update(part)
    return found
