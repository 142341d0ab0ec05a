"""The route table: which upstream a path goes to and how the gateway treats it.

A request is routed by the first path segment only (`/papi/...` -> the `papi` upstream); the
Host header and absolute-form request targets play no part (uvicorn keeps only the path of an
absolute-form target, and we never read Host). Paths are restricted to the characters Binance
paths use, with no `.`/`..` segments, no empty segments and no percent-escapes, so the path we
classify is byte for byte the path we send (an `/api/../sapi/...` cannot be classified as one
thing and executed as another).

Kinds (`RouteKind`):
- `order`: order entry and other risk-adding calls; go through the decision hook (§2.3-§2.5).
- `cancel`: cancels; never add risk (§2.3 "Cancels never increase risk"), forwarded re-signed.
- `money_out`: withdrawals, transfers, key management; refused unless the bot may move money.
- `api_key`: API-key-only endpoints (listenKey, §3.1/§4.1): key checked, exchange key swapped in.
- `other`: anything else; signed when it carries a `signature`, public otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Route", "RouteKind", "check_path", "classify", "prefix_of"]

RouteKind = Literal["order", "cancel", "money_out", "api_key", "other"]

_PATH_CHARS = re.compile(rb"(?:/[A-Za-z0-9_\-.]+)+/?")
_DOT_SEGMENT = re.compile(rb"/\.{1,2}(?:/|$)")


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    prefix: str  # first path segment: "papi", "fapi", ...
    order_kind: str | None = None  # for kind == "order": which order endpoint (see _ORDERS)


# (method, path) -> order kind. binance-pm.md §2.3 (PAPI), §2.4 (classic), §2.5 (liquidation).
_ORDERS: Mapping[tuple[str, str], str] = {
    ("POST", "/papi/v1/um/order"): "papi.um.order",
    ("PUT", "/papi/v1/um/order"): "papi.um.modify",
    ("POST", "/papi/v1/cm/order"): "papi.cm.order",
    ("PUT", "/papi/v1/cm/order"): "papi.cm.modify",
    ("POST", "/papi/v1/margin/order"): "papi.margin.order",
    ("POST", "/papi/v1/margin/order/oco"): "papi.margin.oco",
    ("POST", "/papi/v1/um/conditional/order"): "papi.um.conditional",
    ("POST", "/papi/v1/cm/conditional/order"): "papi.cm.conditional",
    ("POST", "/papi/v1/um/algo/order"): "papi.um.algo",
    ("POST", "/papi/v1/marginloan"): "papi.margin.loan",
    ("POST", "/papi/v1/repayloan"): "papi.margin.repay",
    ("POST", "/papi/v1/margin/repay-debt"): "papi.margin.repay_debt",
    ("POST", "/fapi/v1/order"): "fapi.order",
    ("PUT", "/fapi/v1/order"): "fapi.modify",
    ("POST", "/fapi/v1/batchorders"): "fapi.batch",
    ("PUT", "/fapi/v1/batchorders"): "fapi.batch_modify",
    ("POST", "/fapi/v1/algoorder"): "fapi.algo",
    ("POST", "/dapi/v1/order"): "dapi.order",
    ("PUT", "/dapi/v1/order"): "dapi.modify",
    ("POST", "/dapi/v1/batchorders"): "dapi.batch",
    ("PUT", "/dapi/v1/batchorders"): "dapi.batch_modify",
    ("POST", "/dapi/v1/algoorder"): "dapi.algo",
    ("POST", "/sapi/v1/margin/order"): "sapi.margin.order",
    ("POST", "/sapi/v1/margin/order/oco"): "sapi.margin.oco",
    ("POST", "/sapi/v1/margin/orderlist/oco"): "sapi.margin.order_list",
    ("POST", "/sapi/v1/margin/orderlist/oto"): "sapi.margin.order_list",
    ("POST", "/sapi/v1/margin/orderlist/otoco"): "sapi.margin.order_list",
    ("POST", "/sapi/v1/margin/loan"): "sapi.margin.loan",
    ("POST", "/sapi/v1/margin/borrow-repay"): "sapi.margin.borrow_repay",
    ("POST", "/sapi/v1/margin/manual-liquidation"): "sapi.margin.manual_liquidation",
    ("POST", "/api/v3/order"): "spot.order",
    ("POST", "/api/v3/order/oco"): "spot.order_list",
    ("POST", "/api/v3/orderlist/oco"): "spot.order_list",
    ("POST", "/api/v3/orderlist/oto"): "spot.order_list",
    ("POST", "/api/v3/orderlist/otoco"): "spot.order_list",
    ("POST", "/api/v3/sor/order"): "spot.sor",
    ("POST", "/api/v3/order/cancelreplace"): "spot.cancel_replace",
    ("PUT", "/api/v3/order/amend/keeppriority"): "spot.amend",
}

_CANCELS = frozenset(
    [
        ("DELETE", p)
        for p in (
            "/papi/v1/um/order",
            "/papi/v1/cm/order",
            "/papi/v1/margin/order",
            "/papi/v1/um/allopenorders",
            "/papi/v1/cm/allopenorders",
            "/papi/v1/margin/allopenorders",
            "/papi/v1/margin/orderlist",
            "/papi/v1/um/conditional/order",
            "/papi/v1/um/conditional/allopenorders",
            "/papi/v1/cm/conditional/order",
            "/papi/v1/cm/conditional/allopenorders",
            "/papi/v1/um/algo/order",
            "/papi/v1/um/algo/allopenorders",
            "/fapi/v1/order",
            "/fapi/v1/batchorders",
            "/fapi/v1/allopenorders",
            "/fapi/v1/algoorder",
            "/fapi/v1/algoopenorders",
            "/dapi/v1/order",
            "/dapi/v1/batchorders",
            "/dapi/v1/allopenorders",
            "/dapi/v1/algoorder",
            "/dapi/v1/algoopenorders",
            "/sapi/v1/margin/order",
            "/sapi/v1/margin/openorders",
            "/sapi/v1/margin/orderlist",
            "/api/v3/order",
            "/api/v3/openorders",
            "/api/v3/orderlist",
        )
    ]
    + [("POST", "/fapi/v1/countdowncancelall"), ("POST", "/dapi/v1/countdowncancelall")]
    + [("POST", "/papi/v1/um/countdowncancelall"), ("POST", "/papi/v1/cm/countdowncancelall")]
)

# Endpoints that move assets out of the account (or between accounts), change API keys or
# sub-accounts. Matched for every method but GET (GETs read history/config only).
_MONEY_OUT = re.compile(
    r"/sapi/v\d+/(?:"
    r"capital/withdraw/.*|localentity/withdraw/.*"
    r"|asset/transfer|asset/custody/transfer|futures/transfer|margin/transfer"
    r"|margin/isolated/transfer|sub-account/.*|managed-subaccount/.*|broker/.*"
    r"|account/apirestrictions/.*|account/enablefastwithdrawswitch"
    r"|account/disablefastwithdrawswitch|giftcard/.*|pay/.*|c2c/.*|portfolio/.*transfer.*"
    r"|portfolio/.*collection|lending/.*|simple-earn/.*|convert/.*"
    r")"
    r"|/papi/v\d+/(?:asset-collection|auto-collection|bnb-transfer)"
)

_API_KEY_ONLY = frozenset(
    [
        (m, p)
        for m in ("POST", "PUT", "DELETE")
        for p in (
            "/papi/v1/listenkey",
            "/fapi/v1/listenkey",
            "/dapi/v1/listenkey",
            "/api/v3/userdatastream",
            "/sapi/v1/userdatastream",
            "/sapi/v1/userdatastream/isolated",
        )
    ]
    + [("GET", p) for p in ("/api/v3/historicaltrades", "/fapi/v1/historicaltrades")]
    + [("GET", "/dapi/v1/historicaltrades")]
)


def check_path(raw_path: bytes) -> str | None:
    """The path as text when it is one we are willing to route; None otherwise."""
    if not _PATH_CHARS.fullmatch(raw_path) or _DOT_SEGMENT.search(raw_path):
        return None
    return raw_path.decode("ascii")


def prefix_of(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end < 0 else path[1:end]


def classify(method: str, path: str) -> Route:
    """Classify a checked path. Matching is case-blind and ignores a trailing slash, so a
    case or slash variant of a refused endpoint is refused too."""
    prefix = prefix_of(path)
    key = path.lower().rstrip("/")
    order_kind = _ORDERS.get((method, key))
    if order_kind is not None:
        return Route("order", prefix, order_kind)
    if (method, key) in _CANCELS:
        return Route("cancel", prefix)
    if (method, key) in _API_KEY_ONLY:
        return Route("api_key", prefix)
    if method != "GET" and _MONEY_OUT.fullmatch(key):
        return Route("money_out", prefix)
    return Route("other", prefix)
