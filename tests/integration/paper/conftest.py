"""Paper exchange servers for integration tests: real uvicorn on 127.0.0.1, nothing mocked.

- `paper_url`: a module-wide server in a thread (for the synchronous client libraries), reset
  to its starting state before every test through the control API.
- `control(url)`: a tiny synchronous client for `/paper/control/...`.
- `pb_client(url, key, secret)`: an unmodified python-binance `Client` whose URL roots point at
  the server (clients.md "python-binance").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from binance.client import Client

from margin_gate.paper import create_app
from margin_gate.paper.schema import PaperState
from tests.support.servers import serve_in_thread
from tests.unit.paper import states

KEY = states.API_KEY
SECRET = states.SECRET


def integration_state() -> PaperState:
    """`simple()` plus 1 BTC in the CM wallet and 1,000 USDT of cross-margin cash."""
    data = states.simple()
    data["account"]["balances"]["BTC"] = {"cm_wallet_balance": "1"}
    data["account"]["balances"]["USDT"]["cross_margin_asset"] = "1000"
    data["risk"]["liquidation_delay_ms"] = 50
    return states.build(data)


class Control:
    """Synchronous client for the control API."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=f"{url}/paper/control", timeout=5)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def state(self) -> Any:
        return self.http.get("/state").json()

    def price(self, **change: Any) -> Any:
        return self.post("/prices", change)

    def close(self) -> None:
        self.http.close()


def pb_client(url: str, key: str = KEY, secret: str = SECRET) -> Client:
    roots = {
        "API_URL": f"{url}/api",
        "MARGIN_API_URL": f"{url}/sapi",
        "FUTURES_URL": f"{url}/fapi",
        "FUTURES_DATA_URL": f"{url}/futures/data",
        "FUTURES_COIN_URL": f"{url}/dapi",
        "FUTURES_COIN_DATA_URL": f"{url}/futures/data",
        "OPTIONS_URL": f"{url}/eapi",
        "PAPI_URL": f"{url}/papi",
    }
    paper_client = type("PaperClient", (Client,), roots)
    # Client() grabs (or creates and leaks) the thread's event loop; hand it one we close.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        client: Client = paper_client(key, secret, requests_params={"timeout": 5})
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return client


@pytest.fixture(scope="module")
def paper_url() -> Iterator[str]:
    with serve_in_thread(create_app(integration_state(), control_api=True)) as server:
        yield server.url


@pytest.fixture
def control(paper_url: str) -> Iterator[Control]:
    ctl = Control(paper_url)
    ctl.post("/reset")
    yield ctl
    ctl.close()


@pytest.fixture
def client(paper_url: str, control: Control) -> Client:
    return pb_client(paper_url)
