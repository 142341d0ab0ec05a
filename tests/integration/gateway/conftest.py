"""Gateway integration fixtures: a verifying upstream and the gateway, both real uvicorn servers.

One upstream and one gateway per module (start-up is the slow part); the upstream's record is
cleared before each test. Bots:
- `alpha`: HMAC, every endpoint.            - `edbot`: Ed25519 bot key.
- `narrow`: allow-list `/papi/v1/um/*` and `GET /fapi/v1/*`.
- `treasurer`: may call money-out endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from margin_gate.app import GatewayApp
from margin_gate.app import create_app
from margin_gate.proxy.gate import AcceptAll
from margin_gate.settings import parse_settings
from tests.support.servers import ThreadServer
from tests.support.servers import serve_in_thread
from tests.support.timestamps import fresh_ms
from tests.support.upstream import VerifyingUpstream

EXCHANGE_KEY = "EXCHxKEYxa8f3b2c1d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2"
EXCHANGE_SECRET = "EXCHxSECRETx9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa"
BOT_KEY = "botALPHAkey0123456789abcdefABCDEF0123456789abcdefABCDEF01234567"
BOT_SECRET = "botALPHAsecretZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedc"
NARROW_KEY = "botNARROWkey000000000000000000000000000000000000000000000000000"
NARROW_SECRET = "botNARROWsecret11111111111111111111111111111111111111111111111"
TREASURER_KEY = "botTREASURERkey2222222222222222222222222222222222222222222222222"
TREASURER_SECRET = "botTREASURERsecret33333333333333333333333333333333333333333333"
ED_KEY = "botEDkey44444444444444444444444444444444444444444444444444444444"
ED_PRIVATE = Ed25519PrivateKey.generate()
ED_PUBLIC_PEM = ED_PRIVATE.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)

ENV = {
    "MG_EXCH_KEY": EXCHANGE_KEY,
    "MG_EXCH_SECRET": EXCHANGE_SECRET,
    "MG_ALPHA_KEY": BOT_KEY,
    "MG_ALPHA_SECRET": BOT_SECRET,
    "MG_NARROW_SECRET": NARROW_SECRET,
    "MG_TREASURER_SECRET": TREASURER_SECRET,
    "MG_ED_PUBLIC": ED_PUBLIC_PEM.decode(),
}


def gateway_config(upstream_url: str, **sections: Any) -> dict[str, Any]:
    """A config dict (as TOML would give) routing every prefix to `upstream_url`."""
    config: dict[str, Any] = {
        "server": {"max_body_bytes": 4096},
        "upstream": {
            "urls": {p: upstream_url for p in ("papi", "fapi", "dapi", "api", "sapi")},
            "timeout_s": 1.0,
            "connect_timeout_s": 0.5,
        },
        "accounts": {
            "main": {"api_key": {"env": "MG_EXCH_KEY"}, "api_secret": {"env": "MG_EXCH_SECRET"}}
        },
        "bots": {
            "alpha": {"api_key": {"env": "MG_ALPHA_KEY"}, "secret": {"env": "MG_ALPHA_SECRET"}},
            "narrow": {
                "api_key": NARROW_KEY,
                "secret": {"env": "MG_NARROW_SECRET"},
                "allow_endpoints": ["/papi/v1/um/*", "GET /fapi/v1/*"],
            },
            "treasurer": {
                "api_key": TREASURER_KEY,
                "secret": {"env": "MG_TREASURER_SECRET"},
                "allow_money_out": True,
            },
            "edbot": {
                "api_key": ED_KEY,
                "key_kind": "ed25519",
                "public_key": {"env": "MG_ED_PUBLIC"},
            },
        },
    }
    for name, value in sections.items():
        config[name] = {**config.get(name, {}), **value}
    return config


def build_app(config: dict[str, Any], env: dict[str, str] | None = None) -> GatewayApp:
    settings = parse_settings(config, base_dir=Path("."), env={**ENV, **(env or {})})
    # The forwarding layer alone: the echo upstream has no account for the RiskGate to load.
    return create_app(settings, hook=AcceptAll())


def hmac_sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def now_ms() -> int:
    return fresh_ms()  # a fresh millisecond per call: identical signed requests are replays


@dataclass
class Bot:
    key: str
    secret: str | None = None  # HMAC
    private: Ed25519PrivateKey | None = None

    def sign(self, payload: str) -> str:
        if self.private is not None:
            return base64.b64encode(self.private.sign(payload.encode())).decode()
        assert self.secret is not None
        return hmac_sign(self.secret, payload)


ALPHA = Bot(BOT_KEY, BOT_SECRET)
NARROW = Bot(NARROW_KEY, NARROW_SECRET)
TREASURER = Bot(TREASURER_KEY, TREASURER_SECRET)
EDBOT = Bot(ED_KEY, private=ED_PRIVATE)


@dataclass
class GatewayClient:
    """A bot-side HTTP client that signs like Binance's docs say (§3.1)."""

    url: str
    http: httpx.Client

    def signed(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | list[tuple[str, Any]],
        *,
        bot: Bot = ALPHA,
        where: str = "query",
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        items = list(params.items()) if isinstance(params, dict) else list(params)
        if not any(k == "timestamp" for k, _ in items):
            items.append(("timestamp", timestamp if timestamp is not None else now_ms()))
        payload = urlencode(items)
        signed = payload + "&" + urlencode({"signature": bot.sign(payload)})
        h = {"X-MBX-APIKEY": bot.key, **(headers or {})}
        if where == "query":
            return self.http.request(method, f"{self.url}{path}?{signed}", headers=h)
        h["Content-Type"] = "application/x-www-form-urlencoded"
        return self.http.request(method, f"{self.url}{path}", content=signed, headers=h)

    def raw(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.url}{target}", **kwargs)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[VerifyingUpstream, ThreadServer]]:
    up = VerifyingUpstream(api_key=EXCHANGE_KEY, secret=EXCHANGE_SECRET.encode())
    with serve_in_thread(up.app) as server:
        yield up, server


@pytest.fixture(scope="module")
def gateway_server(
    upstream: tuple[VerifyingUpstream, ThreadServer],
) -> Iterator[ThreadServer]:
    _, up_server = upstream
    app = build_app(gateway_config(up_server.url))
    with serve_in_thread(app) as server:
        yield server


@pytest.fixture
def up(upstream: tuple[VerifyingUpstream, ThreadServer]) -> VerifyingUpstream:
    verifying, _ = upstream
    verifying.reset()
    return verifying


@pytest.fixture
def gw(gateway_server: ThreadServer, up: VerifyingUpstream) -> Iterator[GatewayClient]:
    with httpx.Client(timeout=5.0) as http:
        yield GatewayClient(gateway_server.url, http)


def error_of(response: httpx.Response) -> tuple[int, int]:
    body = response.json()
    assert set(body) == {"code", "msg"}, body
    return response.status_code, body["code"]
