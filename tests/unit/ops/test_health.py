"""OpsEndpoints: /healthz, /readyz (reasons, draining), /metrics, methods and the allow-list."""

from __future__ import annotations

from typing import Any

import orjson

from margin_gate.ops.health import OPS_PATHS
from margin_gate.ops.health import OpsEndpoints
from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.samples import Readiness


def _json(answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> tuple[int, Any]:
    return answer[0], orjson.loads(answer[2])


def test_healthz_is_ok_whatever_the_readiness() -> None:
    ops = OpsEndpoints(readiness=lambda: [Readiness("main", False, "not loaded")])

    assert _json(ops.answer("GET", "/healthz")) == (200, {"status": "ok"})


def test_readyz_200_when_every_check_is_ready() -> None:
    ops = OpsEndpoints(readiness=lambda: [Readiness("main", True), Readiness("alt", True)])

    assert _json(ops.answer("GET", "/readyz")) == (
        200,
        {"ready": True, "checks": {"main": {"ready": True}, "alt": {"ready": True}}},
    )


def test_readyz_503_names_each_failing_check_and_why() -> None:
    ops = OpsEndpoints(
        readiness=lambda: [
            Readiness("main", True),
            Readiness("alt", False, "user stream down since 3.2 s"),
        ]
    )

    status, body = _json(ops.answer("GET", "/readyz"))

    assert status == 503
    assert body == {
        "ready": False,
        "checks": {
            "main": {"ready": True},
            "alt": {"ready": False, "reason": "user stream down since 3.2 s"},
        },
    }


def test_readyz_503_while_draining() -> None:
    draining = False
    ops = OpsEndpoints(readiness=lambda: [Readiness("main", True)], draining=lambda: draining)
    assert ops.answer("GET", "/readyz")[0] == 200

    draining = True
    status, body = _json(ops.answer("GET", "/readyz"))

    assert status == 503
    assert body["draining"] is True


def test_readyz_503_when_the_check_itself_fails() -> None:
    def broken() -> list[Readiness]:
        raise RuntimeError("secret detail")

    status, body = _json(OpsEndpoints(readiness=broken).answer("GET", "/readyz"))

    assert status == 503
    assert body["checks"]["readiness"] == {"ready": False, "reason": "check failed: RuntimeError"}


def test_metrics_answer_the_exposition_format() -> None:
    metrics = GatewayMetrics(process=False)
    metrics.count("order", "reject", "gate.x", "bot1")
    ops = OpsEndpoints(metrics=metrics)

    status, headers, body = ops.answer("GET", "/metrics")

    assert status == 200
    assert dict(headers)[b"content-type"].startswith(b"text/plain; version=")
    assert b'rule="gate.x"' in body
    assert OpsEndpoints().answer("GET", "/metrics")[0] == 404


def test_only_get_and_head() -> None:
    status, headers, _ = OpsEndpoints().answer("POST", "/healthz")

    assert status == 405
    assert (b"allow", b"GET, HEAD") in headers


def test_allow_list_refuses_other_clients() -> None:
    ops = OpsEndpoints(allow=["127.0.0.0/8", "10.0.0.0/8"])

    assert ops.answer("GET", "/healthz", "127.0.0.1")[0] == 200
    assert ops.answer("GET", "/healthz", "10.1.2.3")[0] == 200
    assert ops.answer("GET", "/metrics", "192.0.2.7")[0] == 403
    assert ops.answer("GET", "/healthz", None)[0] == 403


async def test_asgi_call_sends_one_complete_answer() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    ops = OpsEndpoints(readiness=lambda: [Readiness("main", False, "not loaded")])
    scope = {"type": "http", "method": "GET", "path": "/readyz", "client": ("127.0.0.1", 5)}
    await ops(scope, receive, send)
    scope_head = {**scope, "method": "HEAD", "path": "/healthz"}
    await ops(scope_head, receive, send)

    assert sent[0]["status"] == 503
    assert (b"content-length", str(len(sent[1]["body"])).encode()) in sent[0]["headers"]
    assert b"not loaded" in sent[1]["body"]
    assert sent[2]["status"] == 200
    assert sent[3]["body"] == b""
    assert OpsEndpoints.handles("/readyz")
    assert not OpsEndpoints.handles("/papi/v1/order")
    assert frozenset({"/healthz", "/readyz", "/metrics"}) == OPS_PATHS
