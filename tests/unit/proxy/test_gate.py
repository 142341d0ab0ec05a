"""proxy/gate.py: the Outcome helpers later issues rely on."""

from __future__ import annotations

import pytest

from margin_gate.proxy.gate import Outcome


@pytest.mark.parametrize(
    ("body", "code", "order_id"),
    [
        (b'{"orderId":22542179,"status":"NEW"}', None, 22542179),
        (b'{"code":-2019,"msg":"Margin is insufficient."}', -2019, None),
        (b'[{"orderId":1}]', None, None),
        (b"<html>", None, None),
        (b"{broken", None, None),
        (b"", None, None),
    ],
)
def test_outcome_when_body_then_code_and_order_id(
    body: bytes, code: int | None, order_id: int | None
) -> None:
    outcome = Outcome("answered", 200, body)
    assert (outcome.code, outcome.order_id) == (code, order_id)
