"""The gate's pure mappings: client ids it injects (docs/policy.md, proxy/order_ids.py) and how
an exchange answer settles each reservation (accepted / rejected / unknown)."""

from __future__ import annotations

import orjson
import pytest

from margin_gate.proxy.gate import Outcome
from margin_gate.proxy.order_ids import client_ids
from margin_gate.proxy.settlement import settlements
from margin_gate.wire.params import Params


def params(**kw: str) -> Params:
    return Params(tuple(kw.items()), "sig", b"")


@pytest.mark.parametrize(
    ("route", "name"),
    [("um_order", "newClientOrderId"), ("margin_order", "newClientOrderId"),
     ("um_algo", "clientAlgoId"), ("um_conditional", "newClientStrategyId")],
)  # fmt: skip
def test_ids_when_bot_sent_none_then_injected_and_forwarded(route: str, name: str) -> None:
    # Act
    ids = client_ids(route, params(symbol="BTCUSDT"), "r1")  # type: ignore[arg-type]
    # Assert
    assert ids.reservation_ids == ids.stream_ids == ("mg-r1",)
    assert ids.params.get(name) == "mg-r1"
    assert ids.params.signature == "sig"


def test_ids_when_bot_sent_one_then_kept_and_params_untouched() -> None:
    # Arrange
    sent = params(symbol="BTCUSDT", newClientOrderId="mine")
    # Act
    ids = client_ids("um_order", sent, "r1")
    # Assert
    assert ids.reservation_ids == ("mine",)
    assert ids.params is sent


def test_ids_when_batch_then_one_per_element_injected_inside_the_json() -> None:
    # Arrange
    batch = [{"symbol": "BTCUSDT", "quantity": "1"},
             {"symbol": "ETHUSDT", "quantity": "2", "newClientOrderId": "own"}]  # fmt: skip
    # Act
    ids = client_ids("um_batch", params(batchOrders=orjson.dumps(batch).decode()), "r2")
    # Assert
    assert ids.reservation_ids == ("mg-r2-0", "own")
    sent = orjson.loads(ids.params["batchOrders"])
    assert [e["newClientOrderId"] for e in sent] == ["mg-r2-0", "own"]
    assert sent[0]["quantity"] == "1"


def test_ids_when_modify_then_reserved_under_original_with_suffix() -> None:
    # Act
    ids = client_ids("um_modify", params(origClientOrderId="orig"), "r3")
    # Assert
    assert ids.reservation_ids == ("orig#r3",)
    assert ids.stream_ids == ("orig",)


def test_ids_when_loan_then_gateway_id_and_no_stream_id() -> None:
    # Act
    ids = client_ids("borrow", params(asset="USDT", amount="1"), "r4")
    # Assert
    assert (ids.reservation_ids, ids.stream_ids) == (("mg-r4",), (None,))


@pytest.mark.parametrize(
    ("fate", "status", "body", "expected"),
    [
        ("answered", 200, b'{"orderId": 7}', ("accepted", "7")),
        ("answered", 400, b'{"code": -2019, "msg": "x"}', ("rejected", None)),
        ("answered", 400, b'{"code": -1007, "msg": "x"}', ("unknown", None)),
        ("answered", 502, b"bad gateway", ("unknown", None)),
        ("answered", 503, b'{"code": -1008, "msg": "x"}', ("unknown", None)),
        ("unknown", 503, b"", ("unknown", None)),
        ("not_sent", 503, b"", ("rejected", None)),
        ("answered", 429, b'{"code": -1003, "msg": "x"}', ("rejected", None)),
    ],
)
def test_settle_when_answer_then_mapping(
    fate: str, status: int, body: bytes, expected: tuple[str, str | None]
) -> None:
    # Act
    [(rid, outcome, order_id)] = settlements(("c1",), Outcome(fate, status, body))  # type: ignore[arg-type]
    # Assert
    assert (rid, outcome, order_id) == ("c1", *expected)


def test_settle_when_batch_answer_then_per_element() -> None:
    # Arrange
    body = orjson.dumps([{"orderId": 1}, {"code": -2019, "msg": "x"}])
    # Act
    result = settlements(("a", "b"), Outcome("answered", 200, body))
    # Assert
    assert result == [("a", "accepted", "1"), ("b", "rejected", None)]
