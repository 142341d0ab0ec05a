"""aiohttp helpers for async paper tests: signed REST calls and reading WebSocket events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp

from margin_gate.auth.signing import hmac_sha256_hex
from tests.unit.paper import states

Event = dict[str, Any]


async def signed(
    session: aiohttp.ClientSession, url: str, method: str, path: str, **params: str
) -> tuple[int, Any]:
    query = urlencode({**params, "timestamp": str(time.time_ns() // 1_000_000)})
    signature = hmac_sha256_hex(states.SECRET.encode(), query.encode())
    async with session.request(
        method,
        f"{url}{path}?{query}&signature={signature}",
        headers={"X-MBX-APIKEY": states.API_KEY},
    ) as response:
        return response.status, await response.json()


async def listen_key(session: aiohttp.ClientSession, url: str) -> str:
    async with session.post(
        f"{url}/papi/v1/listenKey", headers={"X-MBX-APIKEY": states.API_KEY}
    ) as response:
        key: str = (await response.json())["listenKey"]
        return key


async def control(session: aiohttp.ClientSession, url: str, path: str, **body: Any) -> Any:
    async with session.post(f"{url}/paper/control{path}", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def read_until(
    ws: aiohttp.ClientWebSocketResponse, done: Callable[[Event], bool], timeout: float = 3.0
) -> list[Event]:
    """Read JSON frames until `done(event)`; returns all frames read, the last one included."""
    seen: list[Event] = []
    async with asyncio.timeout(timeout):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            event = message.json()
            seen.append(event)
            if done(event):
                return seen
