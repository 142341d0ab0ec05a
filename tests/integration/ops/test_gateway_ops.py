"""The ops endpoints as the gateway app serves them: a real gateway (uvicorn in a thread) in front
of a real paper exchange (control API on), bots that are python-binance, unmodified.

- /readyz turns 503 with the account's reason when its user stream drops (and cannot come
  back), and 200 again once it does;
- /metrics counts a policy rejection under its rule and an accepted order under accept, with
  the stage latencies; no key material in any label or value;
- every answer carries X-Request-Id, and that id is the audit records' request_id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException
from prometheus_client.parser import text_string_to_metric_families

from margin_gate.ops import secrets_from_settings
from tests.integration.e2e.harness import BOTS
from tests.integration.e2e.harness import OPERATOR_TOKEN
from tests.integration.e2e.harness import Stack
from tests.integration.e2e.harness import binance_client
from tests.integration.e2e.harness import stack
from tests.support.waiting import eventually
from tests.unit.paper import states

# 12 BTC on 10,000 USDT: projected uniMMR far below 1.5 (-2019); 0.001 at 40,000 rests
TOO_BIG = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "12"}
SMALL = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.001", "price": "40000"}  # fmt: skip


def _ready(s: Stack) -> tuple[int, dict[str, Any]]:
    r = s.http.get(f"{s.gateway_url}/readyz")
    return r.status_code, r.json()


def _samples(s: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = s.http.get(f"{s.gateway_url}/metrics")
    assert r.status_code == 200
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _requests(samples: dict[Any, float], **labels: str) -> float:
    want = tuple(sorted({"route": "order", "bot": "alpha", "rule": "", **labels}.items()))
    return samples.get(("margin_gate_requests_total", want), 0.0)


def test_readyz_when_the_user_stream_drops_then_503_with_reason_then_200_again(
    tmp_path: Path,
) -> None:
    with stack(tmp_path) as s:
        # Arrange
        before = _ready(s)
        s.control("faults", {"kind": "error", "path": "/papi/v1/listenKey", "method": "POST",
                             "count": None, "status": 500})  # fmt: skip
        # Act: the paper exchange drops the user stream; it cannot come back (listenKey 500)
        s.control("streams/drop")
        down = eventually(lambda: (r := _ready(s))[0] == 503 and r, timeout=10)
        s.http.delete(f"{s.paper_url}/paper/control/faults")
        up = eventually(lambda: (r := _ready(s))[0] == 200 and r, timeout=15)
        health = s.http.get(f"{s.gateway_url}/healthz")
    # Assert
    assert before == (200, {"ready": True, "checks": {"main": {"ready": True}}})
    _, body = down
    assert body["ready"] is False
    assert body["checks"]["main"]["ready"] is False
    assert "user stream down since" in body["checks"]["main"]["reason"]
    assert up == (200, {"ready": True, "checks": {"main": {"ready": True}}})
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


def test_metrics_count_a_rejection_under_its_rule_and_an_accepted_order_under_accept(
    tmp_path: Path,
) -> None:
    with stack(tmp_path) as s:
        # Arrange
        before = _samples(s)
        with binance_client(s.gateway_url) as c:
            # Act
            with pytest.raises(BinanceAPIException) as refused:
                c.papi_create_um_order(**TOO_BIG)
            refused_id = c.response.headers["x-request-id"]
            accepted = c.papi_create_um_order(**SMALL)
            accepted_id = c.response.headers["x-request-id"]
        after = _samples(s)
        records = s.audit_records()
    # Assert
    assert refused.value.code == -2019
    assert accepted["orderId"] > 0
    rejected = {"decision": "reject", "rule": "gate.policy.min_unimmr_after"}
    assert _requests(after, **rejected) - _requests(before, **rejected) == 1
    assert _requests(after, decision="accept") - _requests(before, decision="accept") == 1
    for stage in ("auth", "check", "reserve", "upstream", "total"):
        key = ("margin_gate_latency_seconds_count", (("route", "order"), ("stage", stage)))
        assert after[key] >= 1, stage
    assert after[("margin_gate_account_loaded", (("account", "main"),))] == 1.0
    assert after[("margin_gate_in_flight_requests", ())] == 0.0
    by_id = {(r.get("request_id"), r["kind"]): r for r in records}
    for rid, decision in ((refused_id, "reject"), (accepted_id, "accept")):
        assert by_id[(rid, "decision")]["decision"] == decision
        assert (rid, "outcome") in by_id


def test_metrics_never_show_key_material(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        # Arrange: traffic that names keys: a good bot, an unknown key, a bad signature
        with binance_client(s.gateway_url) as c:
            c.papi_create_um_order(**SMALL)
        for key, secret in (("UnknownKey0123456789", "x" * 20), (BOTS["alpha"][0], "wrong-0000")):
            with (
                binance_client(s.gateway_url, key=key, secret=secret) as c,
                pytest.raises(BinanceAPIException),
            ):
                c.papi_create_um_order(**SMALL)
        # Act
        text = s.http.get(f"{s.gateway_url}/metrics").text
        secrets = set(secrets_from_settings(s.app.settings))
    # Assert
    secrets |= {states.SECRET, states.API_KEY, OPERATOR_TOKEN, "UnknownKey0123456789"}
    secrets |= {key for key, _, _ in BOTS.values()} | {secret for _, secret, _ in BOTS.values()}
    assert len(secrets) >= 10
    leaked = [secret for secret in secrets if secret in text]
    assert leaked == []
    assert 'rule="auth.signature"' in text
    assert 'rule="auth.api_key"' in text


def test_every_answer_carries_x_request_id(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        answers = [
            s.http.get(f"{s.gateway_url}/papi/v1/ping"),  # public, forwarded
            s.http.get(f"{s.gateway_url}/nope/v1/x"),  # no route
            s.http.post(f"{s.gateway_url}/papi/v1/um/order", headers={"X-MBX-APIKEY": "short"}),
            s.http.request("PATCH", f"{s.gateway_url}/papi/v1/um/order"),
        ]
    ids = [a.headers.get("x-request-id") for a in answers]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)
    assert [a.status_code for a in answers] == [200, 404, 401, 405]
