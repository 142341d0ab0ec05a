"""Issue 7 through the real gateway: every rule's rejection and every accepted order leave
exactly one decision and one outcome record; no secret or signature is in any record; the
chain verifies (`margin-gate audit verify`)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode

from binance.exceptions import BinanceAPIException

from tests.integration.e2e.harness import BOTS
from tests.integration.e2e.harness import OPERATOR_TOKEN
from tests.integration.e2e.harness import binance_client
from tests.integration.e2e.harness import stack
from tests.support.servers import REPO
from tests.unit.paper import states

LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
# (bot, python-binance method, params): one per rule, then accepted orders
CALLS: list[tuple[str, str, dict[str, str]]] = [
    ("alpha", "papi_create_um_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                       "quantity": "12"}),  # min_unimmr_after
    ("narrow", "papi_create_um_order", {**LIMIT, "quantity": "0.01", "price": "49000"}),  # symbols
    ("narrow", "papi_create_um_order", {**LIMIT, "symbol": "ETHUSDT", "quantity": "2",
                                        "price": "3000"}),  # notional
    ("narrow", "papi_create_um_order", {**LIMIT, "symbol": "ETHUSDT", "quantity": "1",
                                        "price": "3300"}),  # collar
    ("narrow", "futures_create_order", {**LIMIT, "symbol": "ETHUSDT", "quantity": "1",
                                        "price": "3000"}),  # allowed_endpoints
    ("alpha", "margin_manual_liquidation", {"type": "MARGIN"}),  # manual liquidation
    ("cond", "futures_create_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                      "quantity": "0.01", "stopPrice": "52000"}),  # conditional
    ("alpha", "papi_create_um_order", {**LIMIT, "quantity": "0.0001", "price": "40000"}),  # params
    ("alpha", "papi_create_um_order", {**LIMIT, "quantity": "0.5", "price": "40000"}),  # accept
    ("warner", "papi_create_um_order", {**LIMIT, "quantity": "0.5", "price": "40000"}),  # warn
    ("alpha", "papi_create_um_order", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                                       "quantity": "0.1"}),  # reducing, filled
    ("liquidator", "margin_manual_liquidation", {"type": "MARGIN"}),  # allowed
]  # fmt: skip


def _raw(url: str, http: Any, bot: str, path: str, secret: str | None = None) -> Any:
    key, own, _ = BOTS[bot]
    now = str(int(time.time() * 1000))
    payload = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                         "quantity": "0.01", "timestamp": now})  # fmt: skip
    sig = hmac.new((secret or own).encode(), payload.encode(), hashlib.sha256).hexdigest()
    return http.post(f"{url}{path}?{payload}&signature={sig}", headers={"X-MBX-APIKEY": key}), sig


def test_audit_when_every_rule_and_accepts_then_one_decision_one_outcome_no_secrets(
    tmp_path: Path,
) -> None:
    ids: list[str] = []
    signatures: list[str] = []
    with stack(tmp_path) as s:
        # Arrange + Act: every rule's rejection, accepted orders, auth failures, bad input
        for bot, method, params in CALLS:
            with binance_client(s.gateway_url, bot) as client:
                with contextlib.suppress(BinanceAPIException):
                    getattr(client, method)(**params)
                response = client.response
                ids.append(response.headers["x-request-id"])
                sent = parse_qs(response.request.url.split("?", 1)[-1]) | parse_qs(
                    response.request.body or ""
                )
                signatures += sent.get("signature", [])
        s.operator("POST", "halt", {"account": "main"})
        with binance_client(s.gateway_url) as client:
            with contextlib.suppress(BinanceAPIException):
                client.papi_create_um_order(**LIMIT, quantity="0.01", price="40000")
            ids.append(client.response.headers["x-request-id"])
        s.operator("POST", "resume", {"account": "main"})
        bad_sig, sig = _raw(s.gateway_url, s.http, "alpha", "/papi/v1/um/order", "wrong")
        signatures.append(sig)
        good, sig = _raw(s.gateway_url, s.http, "alpha", "/papi/v1/um/order")
        signatures.append(sig)
        replay = s.http.post(str(good.request.url), headers=dict(good.request.headers))
        bad_path = s.http.get(f"{s.gateway_url}/papi/v1/um%2Forder")
        for answer in (bad_sig, good, replay, bad_path):
            ids.append(answer.headers["x-request-id"])
        records = s.audit_records()
    raw = b"".join(f.read_bytes() for f in sorted((tmp_path / "audit").glob("*.jsonl")))
    verified = subprocess.run(
        [sys.executable, "-m", "margin_gate", "audit", "verify", str(tmp_path / "audit")],
        capture_output=True, cwd=REPO, check=False,
    )  # fmt: skip
    # Assert: exactly one decision and one outcome per request
    kinds = Counter((r.get("request_id"), r["kind"]) for r in records if r["kind"] != "event")
    for rid in ids:
        assert kinds[(rid, "decision")] == 1, (rid, ids.index(rid))
        assert kinds[(rid, "outcome")] == 1, (rid, kinds)
    rules = {r["rule"] for r in records if r["kind"] == "decision"}
    for rule in ("policy.min_unimmr_after", "policy.allowed_symbols", "policy.max_order_notional",
                 "policy.price_collar", "policy.allowed_endpoints", "policy.manual_liquidation",
                 "policy.conditional_mode", "policy.params", "policy.warn_unimmr_below",
                 "policy.risk_reducing", "policy.kill_switch", "auth.signature", "auth.replay",
                 "route.bad_path"):  # fmt: skip
        assert rule in rules, rule
    # no secret, signature or exchange key anywhere
    secrets = [secret for _, secret, _ in BOTS.values()]
    secrets += [states.SECRET, states.API_KEY, OPERATOR_TOKEN]
    for secret in secrets + signatures:
        assert secret.encode() not in raw, secret[:6]
    assert b'"signature"' not in raw
    # the chain verifies
    assert verified.returncode == 0, verified.stdout + verified.stderr
