"""Exchange key kinds (HMAC, Ed25519, RSA) and the decision-hook / observer seams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from margin_gate.app import create_app
from margin_gate.proxy.gate import Accept
from margin_gate.proxy.gate import AcceptAll
from margin_gate.proxy.gate import Decision
from margin_gate.proxy.gate import OrderContext
from margin_gate.proxy.gate import Outcome
from margin_gate.proxy.gate import Reject
from margin_gate.proxy.gate import RequestRecord
from margin_gate.settings import parse_settings
from margin_gate.wire.errors import BinanceError
from tests.integration.gateway.conftest import ENV
from tests.integration.gateway.conftest import EXCHANGE_KEY
from tests.integration.gateway.conftest import Bot
from tests.integration.gateway.conftest import GatewayClient
from tests.integration.gateway.conftest import error_of
from tests.integration.gateway.conftest import gateway_config
from tests.support.servers import serve_in_thread
from tests.support.upstream import VerifyingUpstream

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
_PEM = serialization.Encoding.PEM


def _ed25519() -> tuple[bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(_PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _rsa() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(_PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_order_when_exchange_key_is_asymmetric_then_upstream_verifies_it(
    kind: str, tmp_path: Any
) -> None:
    # Arrange: the account's private key in a file; the upstream holds the public key.
    private, public = _ed25519() if kind == "ed25519" else _rsa()
    key_file = tmp_path / "exchange.pem"
    key_file.write_bytes(private)
    up = VerifyingUpstream(api_key=EXCHANGE_KEY, public_key_pem=public, key_kind=kind)
    with serve_in_thread(up.app) as up_server:
        config = gateway_config(up_server.url)
        config["accounts"]["main"] = {
            "key_kind": kind,
            "api_key": {"env": "MG_EXCH_KEY"},
            "api_secret": {"file": str(key_file)},
        }
        settings = parse_settings(config, base_dir=tmp_path, env=ENV)
        with (
            serve_in_thread(create_app(settings, hook=AcceptAll())) as gw_server,
            httpx.Client() as http,
        ):
            gw = GatewayClient(gw_server.url, http)
            # Act
            placed = gw.signed("POST", "/papi/v1/um/order", ORDER)
            listed = gw.signed("GET", "/papi/v1/um/openOrders", {"symbol": "BTCUSDT"})
    # Assert
    assert placed.status_code == 200, placed.text
    assert listed.status_code == 200, listed.text
    assert [r.verified for r in up.received] == [True, True], [r.error for r in up.received]


class _RecordingHook:
    def __init__(self, reject_symbol: str) -> None:
        self.reject_symbol = reject_symbol
        self.decided: list[OrderContext] = []
        self.settled: list[tuple[OrderContext, Outcome]] = []

    async def decide(self, ctx: OrderContext) -> Decision:
        self.decided.append(ctx)
        if ctx.params.get("symbol") == self.reject_symbol:
            error = BinanceError(-2019, "Margin is insufficient. (margin-gate: test)", 400)
            return Reject(error, "test.symbol", {"X-MG-Rule": "test.symbol"})
        return Accept(reservation="r1")

    async def settle(self, ctx: OrderContext, decision: Accept, outcome: Outcome) -> None:
        assert decision.reservation == "r1"
        self.settled.append((ctx, outcome))


class _ListObserver:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def observe(self, record: RequestRecord) -> None:
        self.records.append(record)


def test_order_when_hook_rejects_then_error_returned_and_nothing_forwarded(
    upstream: tuple[VerifyingUpstream, Any],
) -> None:
    # Arrange
    up, up_server = upstream
    up.reset()
    hook = _RecordingHook(reject_symbol="ETHUSDT")
    observer = _ListObserver()
    settings = parse_settings(gateway_config(up_server.url), base_dir=Path("."), env=ENV)
    app = create_app(settings, hook=hook, observer=observer)
    with serve_in_thread(app) as server, httpx.Client() as http:
        gw = GatewayClient(server.url, http)
        # Act
        rejected = gw.signed("POST", "/fapi/v1/order", {**ORDER, "symbol": "ETHUSDT"})
        accepted = gw.signed("POST", "/fapi/v1/order", ORDER)
        cancelled = gw.signed("DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": 1})
        unauthorized = gw.signed("POST", "/fapi/v1/order", ORDER, bot=Bot("nobody12345678", "x"))
    # Assert
    assert error_of(rejected) == (400, -2019)
    assert rejected.headers["x-mg-rule"] == "test.symbol"
    assert accepted.status_code == 200
    assert [r.param("symbol") for r in up.received] == ["BTCUSDT", "BTCUSDT"]
    assert [c.route.order_kind for c in hook.decided] == ["fapi.order", "fapi.order"]
    ((ctx, outcome),) = hook.settled
    assert ctx.bot.name == "alpha"
    assert (outcome.fate, outcome.status) == ("answered", 200)
    assert outcome.order_id == accepted.json()["orderId"]
    assert cancelled.status_code in (200, 400)  # cancels bypass the hook
    kinds = [(r.route.kind if r.route else None, r.fate, r.rule) for r in observer.records]
    assert kinds == [
        ("order", "refused", "gate.test.symbol"),
        ("order", "answered", None),
        ("cancel", "answered", None),
        ("order", "refused", "auth.api_key"),
    ]
    assert unauthorized.status_code == 401
    assert observer.records[0].code == -2019
    assert all("signature" not in (r.params or {}) for r in observer.records)


class _BrokenHook:
    async def decide(self, ctx: OrderContext) -> Decision:
        raise RuntimeError("policy store unavailable")

    async def settle(self, ctx: OrderContext, decision: Accept, outcome: Outcome) -> None:
        raise AssertionError("not reached")


def test_order_when_hook_raises_then_1000_json_and_nothing_forwarded(
    upstream: tuple[VerifyingUpstream, Any],
) -> None:
    # Arrange
    up, up_server = upstream
    up.reset()
    settings = parse_settings(gateway_config(up_server.url), base_dir=Path("."), env=ENV)
    app = create_app(settings, hook=_BrokenHook())
    with serve_in_thread(app) as server, httpx.Client() as http:
        # Act
        response = GatewayClient(server.url, http).signed("POST", "/papi/v1/um/order", ORDER)
    # Assert
    assert error_of(response) == (500, -1000)
    assert "Traceback" not in response.text
    assert up.received == []
