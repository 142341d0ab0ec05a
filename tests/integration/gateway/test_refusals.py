"""Every auth failure and bad input: a Binance-format error with Binance's HTTP status, never a
500, and nothing reaches the upstream (binance-pm.md §3.3, §3.5, §3.6)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.gateway.conftest import ALPHA
from tests.integration.gateway.conftest import NARROW
from tests.integration.gateway.conftest import Bot
from tests.integration.gateway.conftest import GatewayClient
from tests.integration.gateway.conftest import error_of
from tests.integration.gateway.conftest import hmac_sign
from tests.integration.gateway.conftest import now_ms
from tests.support.upstream import VerifyingUpstream

ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.001",
    "price": "30000",
}
UM_ORDER = "/papi/v1/um/order"
Case = Callable[[GatewayClient], httpx.Response]


def _unknown_key(gw: GatewayClient) -> httpx.Response:
    stranger = Bot("strangerKey00000000000000000000000000000000000000000000000000000", "x" * 64)
    return gw.signed("POST", UM_ORDER, ORDER, bot=stranger)


def _bad_key_format(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", UM_ORDER, ORDER, bot=Bot("not a key!", ALPHA.secret))


def _missing_key(gw: GatewayClient) -> httpx.Response:
    payload = f"symbol=BTCUSDT&timestamp={now_ms()}"
    return gw.raw("GET", f"/papi/v1/um/openOrders?{payload}&signature={ALPHA.sign(payload)}")


def _bad_signature(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", UM_ORDER, ORDER, bot=Bot(ALPHA.key, "wrong-secret"))


def _stale_timestamp(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", UM_ORDER, ORDER, timestamp=now_ms() - 6_000)


def _future_timestamp(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", UM_ORDER, ORDER, timestamp=now_ms() + 2_000)


def _recv_window_too_large(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", UM_ORDER, {**ORDER, "recvWindow": "60001"})


def _missing_timestamp(gw: GatewayClient) -> httpx.Response:
    payload = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
    return gw.raw(
        "POST",
        f"{UM_ORDER}?{payload}&signature={ALPHA.sign(payload)}",
        headers={"X-MBX-APIKEY": ALPHA.key},
    )


def _missing_signature(gw: GatewayClient) -> httpx.Response:
    return gw.raw(
        "POST",
        f"{UM_ORDER}?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1&timestamp={now_ms()}",
        headers={"X-MBX-APIKEY": ALPHA.key},
    )


def _duplicate_param(gw: GatewayClient) -> httpx.Response:
    params = [*ORDER.items(), ("quantity", "5")]
    return gw.signed("POST", UM_ORDER, params, where="body")


def _non_ascii(gw: GatewayClient) -> httpx.Response:
    payload = f"symbol=BTCUSDT&side=BUY&newClientOrderId=caf\u00e9&timestamp={now_ms()}"
    raw = payload.encode("utf-8")
    body = raw + b"&signature=" + hmac_sign(ALPHA.secret or "", payload).encode()
    return gw.raw(
        "POST",
        UM_ORDER,
        content=body,
        headers={"X-MBX-APIKEY": ALPHA.key, "Content-Type": "application/x-www-form-urlencoded"},
    )


def _oversize_body(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", UM_ORDER, {**ORDER, "pad": "x" * 5000}, where="body")


def _oversize_chunked_body(gw: GatewayClient) -> httpx.Response:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000  # no Content-Length: sent chunked

    headers = {"X-MBX-APIKEY": ALPHA.key, "Content-Type": "application/x-www-form-urlencoded"}
    return gw.raw("POST", UM_ORDER, content=chunks(), headers=headers)


def _money_out(gw: GatewayClient) -> httpx.Response:
    params = {"coin": "USDT", "address": "TXYZ", "amount": "1000"}
    return gw.signed("POST", "/sapi/v1/capital/withdraw/apply", params)


def _money_out_case_variant(gw: GatewayClient) -> httpx.Response:
    params = {"fromEmail": "a@b.c", "toEmail": "x@y.z", "asset": "USDT", "amount": "1"}
    return gw.signed("POST", "/sapi/v1/sub-account/UniversalTransfer/", params)


def _papi_collection(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", "/papi/v1/asset-collection", {"asset": "USDT"})


def _not_in_allow_list(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", "/fapi/v1/order", ORDER, bot=NARROW)


def _unknown_prefix(gw: GatewayClient) -> httpx.Response:
    return gw.signed("POST", "/eapi/v1/order", ORDER)


def _listen_key_unknown_key(gw: GatewayClient) -> httpx.Response:
    return gw.raw("POST", "/papi/v1/listenKey", headers={"X-MBX-APIKEY": "unknownKey123456789"})


CASES: dict[str, tuple[Case, int, int]] = {
    "unknown_key": (_unknown_key, 401, -2015),
    "bad_key_format": (_bad_key_format, 401, -2014),
    "missing_key": (_missing_key, 401, -2014),
    "bad_signature": (_bad_signature, 400, -1022),
    "stale_timestamp": (_stale_timestamp, 400, -1021),
    "future_timestamp": (_future_timestamp, 400, -1021),
    "recv_window_over_60000": (_recv_window_too_large, 400, -1131),
    "missing_timestamp": (_missing_timestamp, 400, -1102),
    "missing_signature": (_missing_signature, 400, -1102),
    "duplicate_param": (_duplicate_param, 400, -1101),
    "non_ascii": (_non_ascii, 400, -1100),
    "oversize_body": (_oversize_body, 413, -1100),
    "oversize_chunked_body": (_oversize_chunked_body, 413, -1100),
    "money_out": (_money_out, 401, -1002),
    "money_out_case_variant": (_money_out_case_variant, 401, -1002),
    "papi_asset_collection": (_papi_collection, 401, -1002),
    "not_in_allow_list": (_not_in_allow_list, 401, -1002),
    "unknown_prefix": (_unknown_prefix, 404, -1002),
    "listen_key_unknown_key": (_listen_key_unknown_key, 401, -2015),
}


@pytest.mark.parametrize("case", list(CASES))
def test_request_when_invalid_then_binance_error_and_upstream_untouched(
    case: str, gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    send, status, code = CASES[case]
    # Act
    response = send(gw)
    # Assert
    assert error_of(response) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/json")
    assert up.received == []


def test_replay_when_identical_signature_reused_then_second_refused(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    payload = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&timestamp={now_ms()}"
    target = f"{UM_ORDER}?{payload}&signature={ALPHA.sign(payload)}"
    headers = {"X-MBX-APIKEY": ALPHA.key}
    # Act
    first = gw.raw("POST", target, headers=headers)
    second = gw.raw("POST", target, headers=headers)
    # Assert
    assert first.status_code == 200
    assert error_of(second) == (400, -1021)
    assert "already used" in second.json()["msg"]
    assert len(up.received) == 1


def test_replay_when_same_params_on_get_then_delete_then_both_forwarded(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange: a bot queries an order and cancels it in the same millisecond (same params,
    # same signature): two requests, not a replay
    payload = f"symbol=BTCUSDT&orderId=42&timestamp={now_ms()}"
    target = f"{UM_ORDER}?{payload}&signature={ALPHA.sign(payload)}"
    headers = {"X-MBX-APIKEY": ALPHA.key}
    # Act
    queried = gw.raw("GET", target, headers=headers)
    cancelled = gw.raw("DELETE", target, headers=headers)
    cancelled_again = gw.raw("DELETE", target, headers=headers)
    # Assert
    for answer in (queried, cancelled):  # the upstream's own answer (no such order), no -1021
        assert error_of(answer) == (400, -2013), answer.text
    assert error_of(cancelled_again) == (400, -1021)
    assert [r.method for r in up.received] == ["GET", "DELETE"]


def test_replay_when_signature_differs_only_in_hex_case_then_refused(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange: HMAC hex is case-insensitive at Binance, so the upper-case twin is a replay.
    payload = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&timestamp={now_ms()}"
    signature = ALPHA.sign(payload)
    headers = {"X-MBX-APIKEY": ALPHA.key}
    # Act
    first = gw.raw("POST", f"{UM_ORDER}?{payload}&signature={signature}", headers=headers)
    twin = gw.raw("POST", f"{UM_ORDER}?{payload}&signature={signature.upper()}", headers=headers)
    # Assert
    assert first.status_code == 200
    assert error_of(twin) == (400, -1021)
    assert len(up.received) == 1


def _raw_http(port: int, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_len(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def _expected_len(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(head) + 4 + int(line.split(b":")[1])
    return 0


@pytest.mark.parametrize(
    "target",
    [
        b"/api/../sapi/v1/capital/withdraw/apply",
        b"/papi/v1/./um/order",
        b"/sapi/v1/capital/withdraw%2Fapply",
        b"//evil.example/papi/v1/um/order",
    ],
)
def test_path_when_not_canonical_then_refused_before_routing(
    target: bytes, gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    port = httpx.URL(gw.url).port or 0
    request = b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    # Act
    status, body = _raw_http(port, request)
    # Assert
    assert status in (400, 404)
    assert b'"code":-1002' in body
    assert up.received == []


def test_host_header_when_pointing_elsewhere_then_only_configured_upstream_contacted(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange: a second server stands in for the attacker's host.
    attacker = VerifyingUpstream(api_key="none", secret=b"none")
    from tests.support.servers import serve_in_thread

    with serve_in_thread(attacker.app) as evil:
        evil_host = f"127.0.0.1:{evil.port}"
        port = httpx.URL(gw.url).port or 0
        # Act: a Host header and an absolute-form target both naming the attacker.
        by_host = gw.signed("POST", UM_ORDER, ORDER, headers={"Host": evil_host})
        absolute = _raw_http(
            port,
            f"GET http://{evil_host}/fapi/v1/ping HTTP/1.1\r\nHost: {evil_host}\r\n\r\n".encode(),
        )
        unknown = _raw_http(
            port,
            f"GET http://{evil_host}/evil/v1/x HTTP/1.1\r\nHost: {evil_host}\r\n\r\n".encode(),
        )
    # Assert
    assert by_host.status_code == 200
    assert absolute[0] == 200
    assert unknown[0] == 404
    assert attacker.received == []
    assert up.paths() == [UM_ORDER, "/fapi/v1/ping"]
    assert all(r.headers["host"] != evil_host for r in up.received)


def _never_500(response: httpx.Response) -> Any:
    assert response.status_code < 500, response.text
    return response.json()


def test_garbage_when_sent_then_json_error_not_500(
    gw: GatewayClient, up: VerifyingUpstream
) -> None:
    # Arrange
    bodies = [b"%", b"=&=&", b"a=%ZZ", b"\xff\xfe", b"signature=&signature="]
    # Act
    answers = [
        gw.raw("POST", UM_ORDER, content=b, headers={"X-MBX-APIKEY": ALPHA.key}) for b in bodies
    ]
    # Assert
    for answer in answers:
        body = _never_500(answer)
        assert set(body) == {"code", "msg"}
    assert up.received == []
