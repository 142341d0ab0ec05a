"""The REST edge as Binance draws it: keys, signatures, timing, parameter rules, 404s,
rate-limit headers, and -1000 JSON (never a traceback) when a handler fails."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from margin_gate.auth.signing import hmac_sha256_hex
from margin_gate.paper.auth import Keyring
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.http import Endpoint
from margin_gate.paper.http import RestApp
from tests.integration.paper.conftest import KEY
from tests.integration.paper.conftest import SECRET
from tests.integration.paper.conftest import Control
from tests.integration.paper.conftest import integration_state
from tests.support.servers import serve_in_thread


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def query(upper: bool = False, secret: str = SECRET, **params: str) -> str:
    params.setdefault("timestamp", str(now_ms()))
    text = urlencode(params)
    signature = hmac_sha256_hex(secret.encode(), text.encode())
    return f"{text}&signature={signature.upper() if upper else signature}"


@pytest.fixture
def http(paper_url: str, control: Control) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=paper_url, timeout=5) as client:
        yield client


def test_signed_request_with_uppercase_hex_is_accepted(http: httpx.Client) -> None:
    response = http.get(f"/papi/v1/account?{query(upper=True)}", headers={"X-MBX-APIKEY": KEY})

    assert response.status_code == 200
    assert response.headers["x-mbx-used-weight-1m"].isdigit()


@pytest.mark.parametrize(
    ("headers", "params", "status", "code"),
    [
        ({}, {}, 401, -2014),
        ({"X-MBX-APIKEY": "nobody"}, {}, 401, -2015),
        ({"X-MBX-APIKEY": KEY}, {"secret": "wrong"}, 400, -1022),
        ({"X-MBX-APIKEY": KEY}, {"timestamp": "1000"}, 400, -1021),
        ({"X-MBX-APIKEY": KEY}, {"recvWindow": "70000"}, 400, -1131),
        ({"X-MBX-APIKEY": KEY}, {"timestamp": "soon"}, 400, -1102),
    ],
)
def test_auth_and_timing_errors(
    http: httpx.Client, headers: dict[str, str], params: dict[str, str], status: int, code: int
) -> None:
    secret = params.pop("secret", SECRET)
    response = http.get(f"/papi/v1/account?{query(False, secret, **params)}", headers=headers)

    assert (response.status_code, response.json()["code"]) == (status, code)


def test_timestamp_ahead_of_the_server_is_refused(http: httpx.Client) -> None:
    ahead = query(timestamp=str(now_ms() + 5000))

    response = http.get(f"/papi/v1/account?{ahead}", headers={"X-MBX-APIKEY": KEY})

    assert response.json()["code"] == -1021


def test_missing_signature(http: httpx.Client) -> None:
    response = http.get(f"/papi/v1/account?timestamp={now_ms()}", headers={"X-MBX-APIKEY": KEY})

    assert response.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    }


def test_form_body_signature_and_order_count_header(http: httpx.Client) -> None:
    body = query(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1")

    response = http.post(
        "/papi/v1/um/order",
        content=body,
        headers={"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert response.headers["x-mbx-order-count-1m"].isdigit()


def test_duplicate_parameter_is_refused(http: httpx.Client) -> None:
    signed = query(symbol="BTCUSDT")
    response = http.get(
        f"/papi/v1/um/positionRisk?symbol=BTCUSDT&{signed}", headers={"X-MBX-APIKEY": KEY}
    )

    assert response.json()["code"] == -1101


def test_unknown_path_is_a_binance_404(http: httpx.Client) -> None:
    response = http.get("/papi/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {
        "code": -5000,
        "msg": "Path /papi/v1/nothing-here, Method GET is invalid",
    }


def test_listen_key_needs_only_the_api_key(http: httpx.Client) -> None:
    ok = http.post("/papi/v1/listenKey", headers={"X-MBX-APIKEY": KEY})
    unknown = http.post("/papi/v1/listenKey", headers={"X-MBX-APIKEY": "nobody"})

    assert ok.status_code == 200
    assert len(ok.json()["listenKey"]) == 64
    assert (unknown.status_code, unknown.json()["code"]) == (401, -2015)


def test_a_failing_handler_answers_minus_1000_json() -> None:
    state = integration_state()
    routes = {("GET", "/boom"): Endpoint(lambda call: 1 / 0, "NONE")}
    app = Starlette()
    app.router.default = RestApp(PaperExchange(state), Keyring(state.keys), routes)

    with serve_in_thread(app) as server:
        response = httpx.get(f"{server.url}/boom", timeout=5)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == -1000
