"""Shared pieces for the state integration tests: a paper exchange on loopback with its
control API, a signed REST client playing the bot, and a state runtime pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from margin_gate.auth.signing import load_signer
from margin_gate.clock import SystemClock
from margin_gate.paper import start_paper_server
from margin_gate.paper.schema import PaperState
from margin_gate.state.config import StateConfig
from margin_gate.state.rest import ExchangeRest
from margin_gate.state.runtime import ExchangeKey
from margin_gate.state.runtime import StateRuntime
from tests.unit.paper import states

PREFIXES = ("papi", "fapi", "dapi", "api", "sapi")
FAST: dict[str, Any] = {
    "ws_ping_interval_s": 0.5,
    "asset_index_interval_s": 0.3,
    "price_rest_interval_s": 0.3,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.3,
    "max_price_age_ms": 3000,
    "reconcile_interval_s": 30.0,
}


def paper_state(**changes: Any) -> PaperState:
    """states.simple() (10,000 USDT, long 2 BTCUSDT @ 50,000) plus 1 BTC in the CM wallet."""
    data = states.simple()
    data["account"]["balances"]["BTC"] = {"cm_wallet_balance": "1"}
    data["account"]["balances"]["USDT"]["cross_margin_asset"] = "1000"
    return states.build(data, **changes)


def bases(url: str) -> dict[str, str]:
    return {p: url for p in PREFIXES}


def key() -> ExchangeKey:
    return ExchangeKey(states.API_KEY, load_signer("hmac", states.SECRET.encode()))


@dataclass
class Paper:
    url: str
    http: aiohttp.ClientSession
    bot: ExchangeRest

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.post(f"{self.url}/paper/control/{path}", json=body or {}) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def price(self, base: str, price: str) -> Any:
        return await self.control("prices", {"base": base, "price": price})

    async def order(self, path: str = "/papi/v1/um/order", **params: str) -> Any:
        return await self.bot.call("POST", path, params)

    async def account(self) -> Any:
        return await self.bot.get("/papi/v1/account")


@asynccontextmanager
async def paper(state: PaperState | None = None) -> AsyncIterator[Paper]:
    server = await start_paper_server(state or paper_state(), control_api=True)
    try:
        async with aiohttp.ClientSession() as http:
            k = key()
            bot = ExchangeRest(http, bases(server.url), k.api_key, k.signer, SystemClock())
            yield Paper(server.url, http, bot)
    finally:
        await server.stop()


@asynccontextmanager
async def runtime(p: Paper, **config: Any) -> AsyncIterator[StateRuntime]:
    cfg = StateConfig(**{**FAST, **config})
    rt = StateRuntime(
        cfg, SystemClock(), session=p.http, bases=bases(p.url), accounts={"main": key()}
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()
