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
    "CM_REDUCE_ONLY_ONLY",
    "DUPLICATE_PARAM",
    "ILLEGAL_CHARS",
    "INVALID_LISTEN_KEY",
    "INVALID_SIGNATURE",
    "INVALID_TIMESTAMP",
    "LIMIT_PRICE_TOO_HIGH",
    "LIMIT_PRICE_TOO_LOW",
    "MANDATORY_PARAM",
    "MARGIN_INSUFFICIENT",
    "NEW_ORDER_REJECTED",
    "NO_PLACE_ORDER_PERMISSION",
    "PAYLOAD_TOO_LARGE",
    "REDUCE_ONLY_ORDER_PERMISSION",
    "REJECTED_MBX_KEY",
    "TIMEOUT",
    "UM_REDUCE_ONLY_ONLY",
    "UNABLE_TRADE_LOW_LIQUIDATION",
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
# -- order entry / margin / liquidation (§3.6; texts as Binance prints them where known) --
NEW_ORDER_REJECTED = BinanceError(-2010, "New order rejected.", 400)
MARGIN_INSUFFICIENT = BinanceError(-2019, "Margin is insufficient.", 400)
# Project brief (binance-pm.md, top): order entry while the account is in liquidation.
UNABLE_TRADE_LOW_LIQUIDATION = BinanceError(
    -3048,
    "Unable to trade. Your margin account is currently in liquidation. "
    "Please try again once the liquidation is processed.",
    400,
)
LIMIT_PRICE_TOO_HIGH = BinanceError(-4016, "Limit price can't be higher than the allowed price.")
LIMIT_PRICE_TOO_LOW = BinanceError(-4024, "Limit price can't be lower than the allowed price.")
REDUCE_ONLY_ORDER_PERMISSION = BinanceError(-4087, "User can only place reduce only order.", 400)
NO_PLACE_ORDER_PERMISSION = BinanceError(-4088, "User can not place order currently.", 400)
UM_REDUCE_ONLY_ONLY = BinanceError(-4405, "Only reduce-only orders are allowed (UM).", 400)
CM_REDUCE_ONLY_ONLY = BinanceError(-4415, "Only reduce-only orders are allowed (CM).", 400)
# Not a Binance code: a body over the configured size. Binance's WAF answers 413 for that.
PAYLOAD_TOO_LARGE = BinanceError(-1100, "Request body too large.", 413)
