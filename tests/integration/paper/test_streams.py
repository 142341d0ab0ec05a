"""User data and mark price streams over real WebSockets (aiohttp), with each event checked
against the official PM SDK's stream models (strict types)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams.models import AccountUpdate
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams.models import (
    ExecutionReport,
)
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams.models import (
    LiabilityChange,
)
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams.models import (
    ListenKeyExpired,
)
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams.models import (
    OrderTradeUpdate,
)
from binance_sdk_derivatives_trading_portfolio_margin.websocket_streams.models import (
    OutboundAccountPosition,
)

from margin_gate.paper import PaperServer
from margin_gate.paper import start_paper_server
from tests.integration.paper.aio import control
from tests.integration.paper.aio import listen_key
from tests.integration.paper.aio import read_until
from tests.integration.paper.aio import signed
from tests.integration.paper.conftest import integration_state
from tests.unit.paper import states

MODELS: dict[str, Any] = {
    "ORDER_TRADE_UPDATE": OrderTradeUpdate,
    "ACCOUNT_UPDATE": AccountUpdate,
    "executionReport": ExecutionReport,
    "outboundAccountPosition": OutboundAccountPosition,
    "liabilityChange": LiabilityChange,
    "listenKeyExpired": ListenKeyExpired,
}


def validate(event: dict[str, Any]) -> None:
    """The SDK's pydantic model accepts the event with strict types."""
    model = MODELS.get(event["e"])
    if model is not None:
        assert model.from_dict(event) is not None


@pytest.fixture
async def server() -> AsyncIterator[PaperServer]:
    paper = await start_paper_server(integration_state(), control_api=True)
    try:
        yield paper
    finally:
        await paper.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def test_futures_fill_streams_order_then_account_update_with_the_same_T(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    key = await listen_key(session, server.url)
    async with session.ws_connect(f"{server.ws_url}/pm/ws/{key}") as ws:
        status, _ = await signed(
            session, server.url, "POST", "/papi/v1/um/order",
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.5",
        )  # fmt: skip
        assert status == 200
        events = await read_until(ws, lambda e: e["e"] == "ACCOUNT_UPDATE")

    new, trade, account = events
    for event in events:
        validate(event)
    assert (new["o"]["x"], new["o"]["X"]) == ("NEW", "NEW")
    assert (trade["o"]["x"], trade["o"]["X"], trade["o"]["L"]) == ("TRADE", "FILLED", "50000.0")
    assert trade["o"]["n"] == "12.50000000"
    assert trade["o"]["N"] == "USDT"
    assert account["T"] == trade["T"]
    assert account["fs"] == "UM"
    assert account["a"]["B"] == [
        {"a": "USDT", "wb": "9987.50000000", "cw": "9987.50000000", "bc": "0.00000000"}
    ]
    assert (account["a"]["P"][0]["pa"], account["a"]["P"][0]["ps"]) == ("1.5", "BOTH")


async def test_margin_buy_streams_borrow_execution_and_balances(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    key = await listen_key(session, server.url)
    async with session.ws_connect(f"{server.ws_url}/pm/ws/{key}") as ws:
        await signed(
            session, server.url, "POST", "/papi/v1/margin/order",
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.03",
            sideEffectType="MARGIN_BUY",
        )  # fmt: skip
        events = await read_until(ws, lambda e: e["e"] == "outboundAccountPosition")

    for event in events:
        validate(event)
    assert [e["e"] for e in events] == [
        "liabilityChange",
        "executionReport",
        "executionReport",
        "outboundAccountPosition",
    ]
    borrow, new, trade, balances = events
    assert (borrow["a"], borrow["t"], borrow["p"]) == ("USDT", "BORROW", "500.00000000")
    assert (new["x"], trade["x"], trade["X"]) == ("NEW", "TRADE", "FILLED")
    assert trade["Z"] == "1500.00000000"
    assert {b["a"]: b["f"] for b in balances["B"]} == {
        "BTC": "0.02997000",
        "USDT": "0.00000000",
    }


async def test_mark_price_streams_push_at_once_on_a_price_move(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    raw = await session.ws_connect(f"{server.ws_url}/ws/btcusdt@markPrice@1s")
    combined = await session.ws_connect(
        f"{server.ws_url}/market/stream?streams=btcusdt@markPrice@1s/!markPrice@arr@1s"
    )
    try:
        started = time.monotonic()
        await control(session, server.url, "/prices", base="BTC", price="51000")
        update = (await read_until(raw, lambda e: e["p"] == "51000.00000000"))[-1]
        frames = await read_until(
            combined,
            lambda f: f["stream"] == "!markPrice@arr@1s" and f["data"][0]["p"] == "51000.00000000",
        )
        elapsed = time.monotonic() - started
    finally:
        await raw.close()
        await combined.close()

    assert elapsed < 0.9  # pushed on the move, not on the next 1 s tick
    assert set(update) == {"e", "E", "s", "p", "i", "P", "r", "T"}
    assert (update["e"], update["s"], update["i"], update["r"]) == (
        "markPriceUpdate",
        "BTCUSDT",
        "51000.00000000",
        "0.00010000",
    )
    assert update["T"] % (8 * 3600 * 1000) == 0
    assert {f["data"][0]["s"] for f in frames if f["stream"] == "!markPrice@arr@1s"} == {"BTCUSDT"}


async def test_mark_prices_also_tick_every_second_and_accept_subscribe(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    async with session.ws_connect(f"{server.ws_url}/ws") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["ethusdt@markPrice"], "id": 7})
        reply = (await read_until(ws, lambda e: e.get("id") == 7))[-1]
        tick = (await read_until(ws, lambda e: e.get("e") == "markPriceUpdate", timeout=2.5))[-1]

    assert reply == {"result": None, "id": 7}
    assert (tick["s"], tick["p"]) == ("ETHUSDT", "3000.00000000")


async def test_control_api_expires_the_listen_key(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    key = await listen_key(session, server.url)
    async with session.ws_connect(f"{server.ws_url}/pm/ws/{key}") as ws:
        await control(session, server.url, "/listen-key/expire")
        [expired] = await read_until(ws, lambda e: True)
        closing = await asyncio.wait_for(ws.receive(), 2)

    validate(expired)
    assert expired["e"] == "listenKeyExpired"
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with session.put(
        f"{server.url}/papi/v1/listenKey?listenKey={key}", headers={"X-MBX-APIKEY": states.API_KEY}
    ) as response:
        assert (response.status, (await response.json())["code"]) == (400, -1125)


async def test_control_api_drops_user_streams_and_the_key_still_works(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    key = await listen_key(session, server.url)
    async with session.ws_connect(f"{server.ws_url}/pm/ws/{key}") as ws:
        dropped = await control(session, server.url, "/streams/drop")
        closing = await asyncio.wait_for(ws.receive(), 2)
    async with session.ws_connect(f"{server.ws_url}/pm/ws/{key}") as again:
        await signed(
            session, server.url, "POST", "/papi/v1/um/order",
            symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1",
        )  # fmt: skip
        events = await read_until(again, lambda e: e["e"] == "ACCOUNT_UPDATE")

    assert dropped == {"dropped": 1}
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert events[-1]["a"]["P"][0]["s"] == "ETHUSDT"


async def test_unknown_listen_key_is_refused(
    server: PaperServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(f"{server.ws_url}/pm/ws/not-a-key")
