"""wire/errors.py: the catalogue answers Binance's body shape and HTTP statuses (§3.5, §3.6)."""

from __future__ import annotations

import orjson
import pytest

from margin_gate.wire import errors


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (errors.BAD_API_KEY_FMT, -2014, 401),
        (errors.REJECTED_MBX_KEY, -2015, 401),
        (errors.INVALID_SIGNATURE, -1022, 400),
        (errors.INVALID_TIMESTAMP, -1021, 400),
        (errors.BAD_RECV_WINDOW, -1131, 400),
        (errors.TIMEOUT, -1007, 503),
        (errors.UNAUTHORIZED, -1002, 401),
        (errors.DUPLICATE_PARAM, -1101, 400),
    ],
)
def test_catalogue_when_rendered_then_code_msg_and_status(
    error: errors.BinanceError, code: int, status: int
) -> None:
    assert (error.code, error.status) == (code, status)
    assert orjson.loads(error.body()) == {"code": code, "msg": error.msg}


def test_with_msg_when_used_then_keeps_code_and_status() -> None:
    e = errors.UNAUTHORIZED.with_msg("why")
    assert (e.code, e.msg, e.status) == (-1002, "why", 401)
