"""No secret (exchange or bot; HMAC or PEM) appears in any log line or any error body.

Runs `margin-gate serve` as a subprocess at log level debug with the access log on, drives
successful orders, auth failures, replays, refusals, upstream errors and a timeout through it,
and searches its whole stderr/stdout; the same scenario in-process is searched via caplog.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.integration.gateway.conftest import ALPHA
from tests.integration.gateway.conftest import BOT_SECRET
from tests.integration.gateway.conftest import ENV
from tests.integration.gateway.conftest import EXCHANGE_KEY
from tests.integration.gateway.conftest import EXCHANGE_SECRET
from tests.integration.gateway.conftest import NARROW
from tests.integration.gateway.conftest import NARROW_SECRET
from tests.integration.gateway.conftest import TREASURER_SECRET
from tests.integration.gateway.conftest import Bot
from tests.integration.gateway.conftest import GatewayClient
from tests.integration.gateway.conftest import now_ms
from tests.support.servers import ThreadServer
from tests.support.servers import free_port
from tests.support.servers import run_cli
from tests.support.upstream import VerifyingUpstream

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
PEM_KEY = Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)
PEM_BODY = PEM_KEY.decode().splitlines()[1]  # the base64 line that is the key itself
PEMBOT = Bot("pemBotKey00000001", TREASURER_SECRET)  # signs with the Ed25519 PEM account
SECRETS = {
    "exchange hmac secret": EXCHANGE_SECRET,
    "exchange api key": EXCHANGE_KEY,
    "bot hmac secret": BOT_SECRET,
    "narrow bot secret": NARROW_SECRET,
    "treasurer bot secret": TREASURER_SECRET,
    "exchange PEM key": PEM_BODY,
}


def _scenario(gw: GatewayClient, up: VerifyingUpstream) -> list[httpx.Response]:
    """Successes, auth failures, replays, refusals, upstream errors and a timeout."""
    answers = [
        gw.signed("POST", "/papi/v1/um/order", ORDER),
        gw.signed("POST", "/papi/v1/um/order", ORDER, where="body"),
        gw.signed("POST", "/papi/v1/um/order", ORDER, bot=Bot(ALPHA.key, "wrong")),
        gw.signed("POST", "/papi/v1/um/order", ORDER, bot=Bot("unknownKey12345678", "x")),
        gw.signed("POST", "/papi/v1/um/order", ORDER, timestamp=now_ms() - 60_000),
        gw.signed("POST", "/fapi/v1/order", ORDER, bot=NARROW),
        gw.signed("POST", "/sapi/v1/capital/withdraw/apply", {"coin": "BTC"}),
        gw.signed("POST", "/papi/v1/marginLoan", {"asset": "USDT", "amount": "1"}, bot=PEMBOT),
        gw.raw("POST", "/papi/v1/listenKey", headers={"X-MBX-APIKEY": ALPHA.key}),
        gw.raw("GET", "/nope/v1/x"),
    ]
    payload = f"symbol=BTCUSDT&timestamp={now_ms()}"
    replay = f"/papi/v1/um/openOrders?{payload}&signature={ALPHA.sign(payload)}"
    answers += [gw.raw("GET", replay, headers={"X-MBX-APIKEY": ALPHA.key}) for _ in range(2)]
    up.fail_next(500, b'{"code":-1000,"msg":"An unknown error occurred"}')
    answers.append(gw.signed("POST", "/papi/v1/um/order", ORDER))
    up.set_latency(1.3)
    answers.append(gw.signed("POST", "/papi/v1/um/order", ORDER))
    up.set_latency(0)
    return answers


def _config(tmp_path: Path, upstream_url: str, port: int) -> Path:
    pem = tmp_path / "pem-account.pem"
    pem.write_bytes(PEM_KEY)
    (tmp_path / "narrow.secret").write_text(NARROW_SECRET + "\n")
    urls = "\n".join(f'{p} = "{upstream_url}"' for p in ("papi", "fapi", "dapi", "api", "sapi"))
    config = tmp_path / "gateway.toml"
    config.write_text(
        f"""
[server]
port = {port}
log_level = "debug"
access_log = true

[policy]
enforce = false  # the echo upstream has no account: test the forwarding layer alone

[upstream]
timeout_s = 1.0
[upstream.urls]
{urls}

[accounts.main]
api_key = {{ env = "MG_EXCH_KEY" }}
api_secret = {{ env = "MG_EXCH_SECRET" }}

[accounts.pem]
key_kind = "ed25519"
api_key = "pemAccountKey0001"
api_secret = {{ file = "pem-account.pem" }}

[bots.alpha]
api_key = {{ env = "MG_ALPHA_KEY" }}
secret = {{ env = "MG_ALPHA_SECRET" }}

[bots.narrow]
api_key = "{NARROW.key}"
secret = {{ file = "narrow.secret" }}
allow_endpoints = ["/papi/v1/um/*"]

[bots.pembot]
api_key = "{PEMBOT.key}"
secret = {{ env = "MG_TREASURER_SECRET" }}
account = "pem"
"""
    )
    return config


def _assert_clean(where: str, text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} found in {where}"


def test_logs_when_failures_and_successes_then_no_secret_anywhere(
    tmp_path: Path,
    upstream: tuple[VerifyingUpstream, ThreadServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Arrange
    up, up_server = upstream
    up.reset()
    port = free_port()
    config = _config(tmp_path, up_server.url, port)
    log_file = tmp_path / "serve.log"
    caplog.set_level(logging.DEBUG)
    # Act
    with (
        log_file.open("wb") as sink,
        run_cli(
            ["serve", "--config", str(config)],
            port=port,
            env=ENV,
            stdout=sink,
            stderr=subprocess.STDOUT,
        ),
        httpx.Client(timeout=5) as http,
    ):
        answers = _scenario(GatewayClient(f"http://127.0.0.1:{port}", http), up)
    # Assert
    statuses = sorted({a.status_code for a in answers})
    assert statuses == [200, 400, 401, 404, 500, 503]
    output = log_file.read_text(errors="replace")
    assert "fate is UNKNOWN" in output  # the log is really captured
    assert "POST /papi/v1/um/order" in output
    _assert_clean("server output", output)
    _assert_clean("pytest log capture", caplog.text)
    for answer in answers:
        _assert_clean(f"response to {answer.request.url.path}", answer.text)
        _assert_clean("response headers", str(answer.headers))


def test_reprs_when_settings_printed_then_secrets_masked(tmp_path: Path) -> None:
    # Arrange
    from margin_gate.settings import load_settings

    config = _config(tmp_path, "http://127.0.0.1:9", 8080)
    # Act
    settings = load_settings(config, env=ENV)
    text = repr(settings) + str(settings.accounts["main"].api_key)
    # Assert
    _assert_clean("Settings repr", text)
