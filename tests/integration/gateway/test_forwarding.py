"""What reaches the upstream: re-signed with the exchange key, parsed exactly as Binance parses
(query wins, numbers verbatim), only our headers; what comes back: status, body, rate-limit
headers unchanged; failures answered as Binance would (§2.1, §3.1, §3.4, §3.5)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import httpx
import pytest

from margin_gate.wire.params import Params
from margin_gate.wire.params import parse_params
from tests.integration.gateway.conftest import ALPHA
from tests.integration.gateway.conftest import BOT_KEY
from tests.integration.gateway.conftest import EDBOT
from tests.integration.gateway.conftest import EXCHANGE_KEY
from tests.integration.gateway.conftest import TREASURER
from tests.integration.gateway.conftest import GatewayClient
from tests.integration.gateway.conftest import build_app
from tests.integration.gateway.conftest import error_of
from tests.integration.gateway.conftest import gateway_config
from tests.integration.gateway.conftest import now_ms
from tests.support.servers import free_port
from tests.support.servers import serve_in_thread
from tests.support.upstream import VerifyingUpstream

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}


def _without_auth(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in params if k not in ("timestamp", "signature")]


def test_order_when_accepted_then_upstream_verifies_exchange_signature(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    bot_ts = now_ms() - 3_000
    params = {**ORDER, "quantity": "0.001", "price": "30000", "recvWindow": "10000"}
    # Act
    response = gw.signed("POST", "/papi/v1/um/order", params, where="body", timestamp=bot_ts)
    # Assert
    assert response.status_code == 200, response.text
    (got,) = up.received
    assert got.verified, got.error
    assert got.headers["x-mbx-apikey"] == EXCHANGE_KEY
    assert BOT_KEY not in str(got.headers)
    assert got.param("recvWindow") == "10000"
    assert int(got.param("timestamp") or 0) > bot_ts + 2_000  # refreshed
    assert got.query == b""  # POST: everything in the body
    assert response.json()["orderId"] == 1000 or response.json()["orderId"] > 0


def test_order_when_key_in_query_and_body_then_upstream_gets_query_value(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange: quantity in both parts; Binance takes the query's (§2.1).
    ts = now_ms()
    query = urlencode({"symbol": "BTCUSDT", "quantity": "0.001", "timestamp": ts})
    body = urlencode({**ORDER, "quantity": "5", "price": "30000.0"})
    signature = ALPHA.sign(query + body)
    target = f"/papi/v1/um/order?{query}"
    content = f"{body}&signature={signature}".encode()
    gateway_view = parse_params("POST", query.encode(), content)
    assert isinstance(gateway_view, Params)
    # Act
    response = gw.raw(
        "POST",
        target,
        content=content,
        headers={"X-MBX-APIKEY": ALPHA.key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    # Assert
    assert response.status_code == 200, response.text
    (got,) = up.received
    assert got.verified
    assert _without_auth(got.params) == _without_auth(list(gateway_view.items_))
    assert [v for k, v in got.params if k == "quantity"] == ["0.001"]


@pytest.mark.parametrize(
    ("quantity", "price"), [("1e-05", "30000.0"), ("0.00001", "30000"), ("1E-5", "3e4")]
)
def test_order_when_sdk_number_formats_then_forwarded_verbatim(
    quantity: str, price: str, gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange (the official SDK and the connectors send str(float), clients.md)
    params = {**ORDER, "quantity": quantity, "price": price}
    # Act
    response = gw.signed("POST", "/fapi/v1/order", params)
    # Assert
    assert response.status_code == 200
    (got,) = up.received
    assert got.verified
    assert (got.param("quantity"), got.param("price")) == (quantity, price)


def test_signed_get_and_delete_when_forwarded_then_params_in_query(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    placed = gw.signed("POST", "/fapi/v1/order", {**ORDER, "quantity": "1", "price": "1"})
    order_id = placed.json()["orderId"]
    # Act
    queried = gw.signed("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": order_id})
    cancelled = gw.signed(
        "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": order_id}, where="body"
    )
    # Assert
    assert queried.json()["orderId"] == order_id
    assert cancelled.json()["status"] == "CANCELED"
    assert [(r.method, bool(r.query), r.body) for r in up.received[1:]] == [
        ("GET", True, b""),
        ("DELETE", True, b""),
    ]
    assert all(r.verified for r in up.received)


def test_public_when_bot_sends_key_then_upstream_gets_no_key(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Act
    response = gw.raw(
        "GET", "/fapi/v1/depth?symbol=BTCUSDT&limit=5", headers={"X-MBX-APIKEY": ALPHA.key}
    )
    # Assert
    assert response.status_code == 200
    (got,) = up.received
    assert got.query == b"symbol=BTCUSDT&limit=5"
    assert "x-mbx-apikey" not in got.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_listen_key_when_bot_key_valid_then_exchange_key_substituted(
    method: str, gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Act
    response = gw.raw(method, "/papi/v1/listenKey", headers={"X-MBX-APIKEY": ALPHA.key})
    # Assert
    assert response.status_code == 200
    assert "listenKey" in response.json()
    (got,) = up.received
    assert got.headers["x-mbx-apikey"] == EXCHANGE_KEY


def test_listen_key_when_bot_signs_it_then_verified_and_resigned(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Act
    response = gw.signed("POST", "/papi/v1/listenKey", {})
    # Assert
    assert response.status_code == 200
    (got,) = up.received
    assert got.verified
    assert got.headers["x-mbx-apikey"] == EXCHANGE_KEY


def test_client_headers_when_sent_then_not_forwarded(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    sneaky = {
        "Cookie": "session=abc",
        "Authorization": "Bearer x",
        "X-Forwarded-For": "1.2.3.4",
        "X-Custom": "y",
        "Connection": "keep-alive, X-Custom",
    }
    # Act
    gw.signed("GET", "/papi/v1/account", {}, headers=sneaky)
    # Assert
    (got,) = up.received
    assert got.verified
    assert set(got.headers) <= {
        "host",
        "user-agent",
        "accept",
        "x-mbx-apikey",
        "content-length",
        "content-type",
    }


def test_rate_limit_headers_and_errors_when_upstream_answers_then_relayed_unchanged(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    body = b'{"code":-1003,"msg":"Too many requests; current limit is 6000."}'
    up.fail_next(429, body, {"Retry-After": "7", "X-MBX-ORDER-COUNT-1M": "1200"})
    up.fail_next(502, b"<html>bad gateway</html>")
    # Act
    limited = gw.signed("POST", "/papi/v1/um/order", {**ORDER, "quantity": "1", "price": "1"})
    broken = gw.signed("GET", "/papi/v1/balance", {})
    ok = gw.signed("POST", "/papi/v1/um/order", {**ORDER, "quantity": "1", "price": "1"})
    # Assert
    assert (limited.status_code, limited.content) == (429, body)
    assert limited.headers["retry-after"] == "7"
    assert limited.headers["x-mbx-order-count-1m"] == "1200"
    assert "x-mbx-used-weight-1m" in limited.headers
    assert (broken.status_code, broken.content) == (502, b"<html>bad gateway</html>")
    assert ok.headers["x-mbx-order-count-10s"] == "1"
    assert ok.headers["x-mbx-used-weight-1m"] == "3"


def test_order_when_upstream_times_out_then_1007_and_not_retried(
    gw: GatewayClient, up: VerifyingUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: the gateway's timeout in these tests is 1 s.
    up.set_latency(1.5)
    caplog.set_level(logging.WARNING, logger="margin_gate")
    # Act
    response = gw.signed("POST", "/papi/v1/um/order", {**ORDER, "quantity": "1", "price": "1"})
    # Assert
    assert error_of(response) == (503, -1007)
    assert len(up.received) == 1
    assert any("UNKNOWN" in r.getMessage() for r in caplog.records)


def test_requests_when_upstream_unreachable_then_503_json() -> None:
    # Arrange: nothing listens on the upstream port.
    dead = f"http://127.0.0.1:{free_port()}"
    with serve_in_thread(build_app(gateway_config(dead))) as server, httpx.Client() as http:
        gw = GatewayClient(server.url, http)
        # Act
        read = gw.signed("GET", "/papi/v1/balance", {})
        order = gw.signed("POST", "/papi/v1/um/order", {**ORDER, "quantity": "1", "price": "1"})
        public = gw.raw("GET", "/fapi/v1/ping")
    # Assert
    assert error_of(read) == (503, -1001)
    assert error_of(order) == (503, -1001)
    assert error_of(public) == (503, -1001)


def test_order_when_bot_uses_ed25519_key_then_accepted(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Act
    response = gw.signed("POST", "/papi/v1/cm/order", {**ORDER, "quantity": "1"}, bot=EDBOT)
    # Assert
    assert response.status_code == 200, response.text
    assert up.received[0].verified


def test_money_out_when_bot_allowed_then_forwarded(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Act
    response = gw.signed(
        "POST", "/sapi/v1/asset/transfer", {"type": "MAIN_UMFUTURE"}, bot=TREASURER
    )
    # Assert
    assert response.status_code == 200
    assert up.received[0].verified
