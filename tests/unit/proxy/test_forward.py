"""proxy/forward.py: what we sign is what we send, in one place, with only our headers."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from urllib.parse import parse_qsl

from margin_gate.proxy.forward import raw_request
from margin_gate.proxy.forward import resigned_request
from margin_gate.settings import Account
from margin_gate.settings import parse_settings
from margin_gate.wire.params import Params
from margin_gate.wire.params import parse_params

SECRET = "exchange-secret"


def _account() -> Account:
    config = {
        "accounts": {"main": {"api_key": "exchangeKey1", "api_secret": {"env": "S"}}},
    }
    return parse_settings(config, base_dir=Path("."), env={"S": SECRET}).accounts["main"]


def _params(method: str, query: bytes, body: bytes = b"") -> Params:
    p = parse_params(method, query, body)
    assert isinstance(p, Params)
    return p


def _verify(signed: bytes) -> list[tuple[str, str]]:
    payload, _, signature = signed.rpartition(b"&signature=")
    expected = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
    assert signature.decode() == expected
    return parse_qsl(payload.decode())


def test_resign_when_post_then_body_only_timestamp_in_place_recv_window_kept() -> None:
    # Arrange
    p = _params(
        "POST", b"timestamp=1&symbol=BTCUSDT", b"recvWindow=7000&quantity=1e-05&signature=x"
    )
    # Act
    out = resigned_request("POST", "https://fapi.binance.com", "/fapi/v1/order", p, _account(), 42)
    # Assert
    assert out.url == "https://fapi.binance.com/fapi/v1/order"
    assert out.headers == {
        "X-MBX-APIKEY": "exchangeKey1",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert out.body is not None
    assert _verify(out.body) == [
        ("timestamp", "42"),
        ("symbol", "BTCUSDT"),
        ("recvWindow", "7000"),
        ("quantity", "1e-05"),
    ]


def test_resign_when_get_or_delete_then_query_only() -> None:
    for method in ("GET", "DELETE"):
        # Arrange
        p = _params(method, b"symbol=BTCUSDT&timestamp=1&signature=x", b"orderId=5")
        # Act
        out = resigned_request(method, "http://u", "/papi/v1/um/order", p, _account(), 9)
        # Assert
        assert out.body is None
        base, _, query = out.url.partition("?")
        assert base == "http://u/papi/v1/um/order"
        expected = [("symbol", "BTCUSDT"), ("timestamp", "9")]
        if method == "DELETE":
            expected.append(("orderId", "5"))
        assert _verify(query.encode()) == expected


def test_resign_when_json_list_param_then_encoded_and_signed_over_encoding() -> None:
    # Arrange: batchOrders carries a URL-encoded JSON list (§2.4)
    batch = b"batchOrders=%5B%7B%22symbol%22%3A%22BTCUSDT%22%7D%5D&timestamp=1"
    p = _params("POST", b"", batch)
    # Act
    out = resigned_request("POST", "http://u", "/fapi/v1/batchOrders", p, _account(), 2)
    # Assert
    assert out.body is not None
    assert _verify(out.body)[0] == ("batchOrders", '[{"symbol":"BTCUSDT"}]')


def test_raw_when_public_then_no_key_and_query_untouched() -> None:
    out = raw_request("GET", "http://u", "/fapi/v1/depth", "symbol=BTCUSDT&limit=5", b"x", None)
    assert (out.url, out.headers, out.body) == (
        "http://u/fapi/v1/depth?symbol=BTCUSDT&limit=5",
        {},
        None,
    )


def test_raw_when_api_key_only_then_exchange_key() -> None:
    out = raw_request("PUT", "http://u", "/papi/v1/listenKey", "", b"", _account())
    assert out.headers == {"X-MBX-APIKEY": "exchangeKey1"}


def test_encoding_is_wire_params_encoding_for_any_text() -> None:
    # Arrange: names and values of every kind (the forwarder's fast paths must not change a
    # byte of what encode_params would produce)
    import random

    from margin_gate.proxy.forward import encode_value
    from margin_gate.wire.params import encode_params

    rng = random.Random(8)
    alphabet = "AZaz09-_.~ +/=&%?#[]{}\",:'é€\t"
    texts = ["", "BTCUSDT", "0.002", "mg-1f-2a", "1e-05", '[{"a":1}]', "ÄÖ", "a b"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10))) for _ in range(500)]
    # Act / Assert
    for text in texts:
        assert (
            encode_params([(text, text)]).decode() == f"{encode_value(text)}={encode_value(text)}"
        )


def test_header_mappings_are_shared_and_read_only() -> None:
    account = _account()
    a = resigned_request("POST", "https://x", "/papi/v1/um/order", _params("POST", b"a=1"),
                         account, 1)  # fmt: skip
    b = resigned_request("POST", "https://x", "/papi/v1/um/order", _params("POST", b"b=2"),
                         account, 2)  # fmt: skip
    assert a.headers is b.headers
    assert dict(a.headers) == {"X-MBX-APIKEY": "exchangeKey1",
                               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    try:
        a.headers["X-MBX-APIKEY"] = "other"  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("header mapping is writable")
