"""The one place where refusals and failures become Binance-format answers.

Every error the gateway produces leaves as `{"code": <int>, "msg": "<text>"}` with Binance's HTTP
status (binance-pm.md §3.5, §3.6); a client never sees a 500 with a traceback. Unexpected
exceptions answer -1000 and are logged by class and message only, never with request bytes
(which carry signatures) or settings (which carry keys).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping

from margin_gate.proxy.upstream import UpstreamError
from margin_gate.proxy.upstream import UpstreamUnreachable
from margin_gate.wire.errors import TIMEOUT
from margin_gate.wire.errors import UNAUTHORIZED
from margin_gate.wire.errors import UNKNOWN
from margin_gate.wire.errors import BinanceError

__all__ = [
    "BAD_PATH",
    "DISCONNECTED",
    "JSON_CONTENT_TYPE",
    "METHOD_NOT_ALLOWED",
    "MONEY_OUT_REFUSED",
    "NOT_ALLOWED",
    "NOT_READY",
    "NO_ROUTE",
    "PROFILE_NOT_ALLOWED",
    "encode_headers",
    "error_answer",
    "from_exception",
    "from_upstream_error",
]

_log = logging.getLogger("margin_gate.proxy")
JSON_CONTENT_TYPE = b"application/json;charset=UTF-8"

# -1002 UNAUTHORIZED is Binance's "not authorized to execute this request" (§3.6); we reuse it,
# with our reason in msg, for everything the gateway's own rules do not let a bot call.
MONEY_OUT_REFUSED = UNAUTHORIZED.with_msg(
    "margin-gate: this endpoint moves funds or changes keys and is refused for this bot "
    "(set allow_money_out in its profile to permit it)."
)
NOT_ALLOWED = UNAUTHORIZED.with_msg(
    "margin-gate: this endpoint is not in this bot's allow_endpoints."
)
PROFILE_NOT_ALLOWED = UNAUTHORIZED.with_msg(
    "You are not authorized to execute this request. margin-gate: this endpoint is not in "
    "this bot's profile allowed_endpoints (rule allowed_endpoints)"
)
NO_ROUTE = BinanceError(-1002, "margin-gate: no upstream is configured for this path.", 404)
BAD_PATH = BinanceError(-1002, "margin-gate: malformed request path.", 400)
METHOD_NOT_ALLOWED = BinanceError(-1002, "margin-gate: only GET, POST, PUT and DELETE.", 405)
NOT_READY = BinanceError(-1001, "margin-gate is starting or stopping; try again.", 503)
# -1001 DISCONNECTED: "Internal error; unable to process your request. Please try again." —
# used when a read could not be answered; an order gets -1007 instead (its fate is unknown).
DISCONNECTED = BinanceError(
    -1001, "Internal error; unable to process your request. Please try again.", 503
)


def error_answer(
    error: BinanceError, extra: Mapping[str, str] | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) for a Binance error."""
    headers = [(b"content-type", JSON_CONTENT_TYPE)]
    if extra:
        headers.extend(encode_headers(extra))
    return error.status, headers, error.body()


def encode_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs (lower-case names, latin-1) for our X-Margin-Gate-* headers."""
    names = _HEADER_NAMES
    return [(names.get(k) or _header_name(k), v.encode("latin-1")) for k, v in headers.items()]


# Header name -> its ASGI form: the same few names on every order (bounded all the same).
_HEADER_NAMES: dict[str, bytes] = {}


def _header_name(name: str) -> bytes:
    encoded = name.lower().encode("latin-1")
    if len(_HEADER_NAMES) < 256:
        _HEADER_NAMES[name] = encoded
    return encoded


def from_upstream_error(exc: UpstreamError, *, may_execute: bool) -> BinanceError:
    """-1007 when the request may have executed upstream (fate unknown), else -1001."""
    if isinstance(exc, UpstreamUnreachable) or not may_execute:
        return DISCONNECTED
    return TIMEOUT


def from_exception(exc: BaseException, request_id: str) -> BinanceError:
    """-1000 for anything unexpected; logged without request bytes or secrets."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    _log.error(
        "request %s failed: %s: %s\n%s",
        request_id,
        type(exc).__name__,
        _safe_message(exc),
        frames,
    )
    return UNKNOWN.with_msg("margin-gate: internal error.")


def _safe_message(exc: BaseException) -> str:
    text = str(exc)
    # Exceptions from lower layers can quote their inputs; cap and strip anything key-shaped.
    return text[:200].split("signature=")[0] if text else ""
