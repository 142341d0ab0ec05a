"""End-to-end harness: a paper exchange (control API on) and the real gateway in front of it,
both real uvicorn servers on 127.0.0.1, and bots that are unmodified client libraries.

`Stack` records every HTTP request that reaches the paper exchange (`reached`), so a test can
assert what the gateway let through. Account: `states.simple()` — 10,000 USDT in the UM wallet,
long 2 BTCUSDT @ 50,000, one 1 % bracket, no spread unless set:
    uniMMR(P) = (10,000 + 2·(P − 50,000)) / (2·P·1 %)      (10.0 at 50,000)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
import orjson

from margin_gate.app import GatewayApp
from margin_gate.app import create_app
from margin_gate.paper import create_app as create_paper
from margin_gate.paper.schema import PaperState
from margin_gate.settings import parse_settings
from tests.support.servers import ThreadServer
from tests.unit.paper import states

PREFIXES = ("papi", "fapi", "dapi", "api", "sapi")
OPERATOR_TOKEN = "operator-token-0123456789abcdef"
FAST_STATE = {
    "ws_ping_interval_s": 0.5,
    "asset_index_interval_s": 0.3,
    "price_rest_interval_s": 0.3,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.3,
    "max_price_age_ms": 3000,
    "reconcile_interval_s": 30.0,
}
BOTS = {  # name -> (gateway key, secret, profile)
    "alpha": ("alphaBotKey000000001", "alpha-secret-000000001", "default"),
    "narrow": ("narrowBotKey00000001", "narrow-secret-00000001", "narrow"),
    "liquidator": ("liqBotKey00000000001", "liq-secret-0000000001", "liquidator"),
    "cond": ("condBotKey0000000001", "cond-secret-000000001", "cond"),
    "warner": ("warnBotKey0000000001", "warn-secret-000000001", "warner"),
}
PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "narrow": {
        "allowed_symbols": ["ETHUSDT"],
        "max_order_notional": "5000",
        "price_collar_bps": "500",
        "allowed_endpoints": ["/papi/v1/*"],
    },
    "liquidator": {"allow_manual_liquidation": True},
    "cond": {"conditional_mode": "reduce_only"},
    "warner": {"warn_unimmr_below": "9.0"},
}


class Recorder:
    """Pure ASGI wrapper that records (method, path, query+body) of every HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.reached: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/paper/control"):
            self.reached.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


def gateway_settings(
    paper_url: str,
    audit_dir: Path | None,
    *,
    state: dict[str, Any] | None = None,
    profiles: dict[str, dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "upstream": {"urls": {p: paper_url for p in PREFIXES}, "timeout_s": 3.0},
        "accounts": {
            "main": {
                "api_key": states.API_KEY,
                "api_secret": {"env": "MG_PAPER_SECRET"},
                "profile": "default",
            }
        },
        "bots": {
            name: {"api_key": key, "secret": {"env": f"MG_BOT_{name.upper()}"}, "profile": prof}
            for name, (key, _, prof) in BOTS.items()
        },
        "profiles": profiles if profiles is not None else PROFILES,
        "state": {**FAST_STATE, **(state or {})},
        "operator": {"token": {"env": "MG_OPERATOR_TOKEN"}},
    }
    if audit_dir is not None:
        config["audit"] = {"dir": str(audit_dir), "fsync_interval_ms": 0}
    for k, v in (extra or {}).items():
        config[k] = {**config.get(k, {}), **v}
    return config


def env() -> dict[str, str]:
    out = {"MG_PAPER_SECRET": states.SECRET, "MG_OPERATOR_TOKEN": OPERATOR_TOKEN}
    for name, (_, secret, _) in BOTS.items():
        out[f"MG_BOT_{name.upper()}"] = secret
    return out


@dataclass
class Stack:
    paper_url: str
    gateway_url: str
    recorder: Recorder
    app: GatewayApp
    paper_app: Any
    audit_dir: Path | None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    @property
    def exchange(self) -> Any:
        return self.paper_app.state.exchange

    @property
    def reached(self) -> list[tuple[str, str]]:
        return self.recorder.reached

    def orders_reached(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.reached if m in ("POST", "PUT", "DELETE")]

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.post(f"{self.paper_url}/paper/control/{path}", json=body or {})
        assert r.status_code == 200, r.text
        return r.json()

    def paper_state(self) -> Any:
        return self.http.get(f"{self.paper_url}/paper/control/state").json()

    def price(self, base: str, price: str) -> Any:
        return self.control("prices", {"base": base, "price": price})

    def operator(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        return self.http.request(
            method, f"{self.gateway_url}/operator/v1/{path}", json=body, headers=headers
        )

    def audit_records(self) -> list[dict[str, Any]]:
        assert self.audit_dir is not None
        out = []
        for f in sorted(self.audit_dir.glob("*.jsonl")):
            out += [orjson.loads(line) for line in f.read_bytes().splitlines() if line]
        return out

    def wait_view(self, predicate: Any, timeout: float = 5.0) -> Any:
        """Wait until the gateway's view of the account satisfies `predicate(view)`."""
        risk = self.app.risk
        assert risk is not None
        deadline = time.monotonic() + timeout
        while True:
            view = risk.gate.store.view("main")
            if predicate(view):
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway view never matched: stale={view.stale_reason}")
            time.sleep(0.02)


@contextlib.contextmanager
def stack(
    tmp_path: Path | None = None,
    paper: PaperState | None = None,
    **settings_kw: Any,
) -> Iterator[Stack]:
    paper_app = create_paper(paper or states.build(states.simple()), control_api=True)
    recorder = Recorder(paper_app)
    paper_server = ThreadServer(recorder).start()
    audit_dir = None if tmp_path is None else tmp_path / "audit"
    try:
        config = gateway_settings(paper_server.url, audit_dir, **settings_kw)
        settings = parse_settings(config, base_dir=Path("."), env=env())
        app = create_app(settings)
        gw_server = ThreadServer(app).start(timeout=20)
        try:
            s = Stack(paper_server.url, gw_server.url, recorder, app, paper_app, audit_dir)
            s.wait_view(lambda v: v.stale_reason is None, timeout=10)
            try:
                yield s
            finally:
                s.http.close()
        finally:
            gw_server.stop()
    finally:
        paper_server.stop()


@contextlib.contextmanager
def binance_client(
    url: str, bot: str = "alpha", *, key: str | None = None, secret: str | None = None
) -> Iterator[Any]:
    """python-binance's sync Client, unmodified, pointed at `url` (clients.md recipe); a
    harness bot's keys, or `key`/`secret` given outright."""
    from binance.client import Client

    if key is None or secret is None:
        key, secret, _ = BOTS[bot]
    roots = {
        "API_URL": f"{url}/api",
        "MARGIN_API_URL": f"{url}/sapi",
        "FUTURES_URL": f"{url}/fapi",
        "FUTURES_DATA_URL": f"{url}/futures/data",
        "FUTURES_COIN_URL": f"{url}/dapi",
        "FUTURES_COIN_DATA_URL": f"{url}/futures/data",
        "PAPI_URL": f"{url}/papi",
    }
    cls: Any = type("GwClient", (Client,), roots)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        client = cls(key, secret, ping=False)
        try:
            yield client
        finally:
            client.close_connection()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
