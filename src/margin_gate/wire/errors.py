"""Binance error codes as values: `BinanceError(code, msg, status)` and our catalogue of them.

Source: ../shared/binance-pm.md §3.5 (HTTP status) and §3.6 (codes). The body is always
`{"code": <negative int>, "msg": "<text>"}`; the code is stable, the message may vary, so
margin-gate adds its own explanation to `msg` where it refuses an order.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

__all__ = [
    "BAD_API_KEY_FMT",
    "BAD_PRECISION",
    "BAD_RECV_WINDOW",
    "BAD_SYMBOL",
    "DUPLICATE_PARAM",
    "ILLEGAL_CHARS",
    "INVALID_LISTEN_KEY",
    "INVALID_SIGNATURE",
    "INVALID_TIMESTAMP",
    "MANDATORY_PARAM",
    "PAYLOAD_TOO_LARGE",
    "REJECTED_MBX_KEY",
    "TIMEOUT",
    "UNAUTHORIZED",
    "UNKNOWN",
    "BinanceError",
]


@dataclass(frozen=True, slots=True)
class BinanceError:
    """An error answer in Binance's format: HTTP `status` and body `{"code","msg"}`."""

    code: int
    msg: str
    status: int = 400

    def body(self) -> bytes:
        return orjson.dumps({"code": self.code, "msg": self.msg})

    def with_msg(self, msg: str) -> BinanceError:
        return BinanceError(self.code, msg, self.status)


# -- generic / auth / timing (§3.6) --
UNKNOWN = BinanceError(-1000, "An unknown error occurred while processing the request.", 500)
UNAUTHORIZED = BinanceError(-1002, "You are not authorized to execute this request.", 401)
TIMEOUT = BinanceError(
    -1007,
    "Timeout waiting for response from backend server. "
    "Send status unknown; execution status unknown.",
    503,
)
INVALID_TIMESTAMP = BinanceError(
    -1021, "Timestamp for this request is outside of the recvWindow.", 400
)
INVALID_SIGNATURE = BinanceError(-1022, "Signature for this request is not valid.", 400)
ILLEGAL_CHARS = BinanceError(-1100, "Illegal characters found in a parameter.", 400)
DUPLICATE_PARAM = BinanceError(-1101, "Duplicate values for a parameter detected.", 400)
MANDATORY_PARAM = BinanceError(
    -1102, "A mandatory parameter was not sent, was empty/null, or malformed.", 400
)
BAD_PRECISION = BinanceError(-1111, "Precision is over the maximum defined for this asset.", 400)
BAD_SYMBOL = BinanceError(-1121, "Invalid symbol.", 400)
INVALID_LISTEN_KEY = BinanceError(-1125, "This listenKey does not exist.", 400)
BAD_RECV_WINDOW = BinanceError(-1131, "recvWindow must be less than 60000", 400)
BAD_API_KEY_FMT = BinanceError(-2014, "API-key format invalid.", 401)
REJECTED_MBX_KEY = BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
# Not a Binance code: a body over the configured size. Binance's WAF answers 413 for that.
PAYLOAD_TOO_LARGE = BinanceError(-1100, "Request body too large.", 413)
