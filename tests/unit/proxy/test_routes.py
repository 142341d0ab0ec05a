"""proxy/routes.py: path canonicality and the route table (§2.3-§2.5, §4.1)."""

from __future__ import annotations

import pytest

from margin_gate.proxy.routes import check_path
from margin_gate.proxy.routes import classify


@pytest.mark.parametrize(
    ("method", "path", "kind", "order_kind"),
    [
        ("POST", "/papi/v1/um/order", "order", "papi.um.order"),
        ("PUT", "/papi/v1/um/order", "order", "papi.um.modify"),
        ("POST", "/papi/v1/cm/conditional/order", "order", "papi.cm.conditional"),
        ("POST", "/papi/v1/um/algo/order", "order", "papi.um.algo"),
        ("POST", "/papi/v1/margin/order/oco", "order", "papi.margin.oco"),
        ("POST", "/papi/v1/marginLoan", "order", "papi.margin.loan"),
        ("POST", "/fapi/v1/batchOrders", "order", "fapi.batch"),
        ("POST", "/dapi/v1/algoOrder", "order", "dapi.algo"),
        ("POST", "/sapi/v1/margin/order", "order", "sapi.margin.order"),
        ("POST", "/sapi/v1/margin/manual-liquidation", "order", "sapi.margin.manual_liquidation"),
        ("POST", "/api/v3/order", "order", "spot.order"),
        ("POST", "/PAPI/v1/UM/ORDER/", "order", "papi.um.order"),
        ("DELETE", "/papi/v1/um/order", "cancel", None),
        ("DELETE", "/fapi/v1/allOpenOrders", "cancel", None),
        ("POST", "/fapi/v1/countdownCancelAll", "cancel", None),
        ("POST", "/papi/v1/listenKey", "api_key", None),
        ("DELETE", "/api/v3/userDataStream", "api_key", None),
        ("POST", "/sapi/v1/capital/withdraw/apply", "money_out", None),
        ("POST", "/sapi/v1/asset/transfer", "money_out", None),
        ("POST", "/sapi/v1/sub-account/universalTransfer", "money_out", None),
        ("POST", "/sapi/v1/sub-account/futures/internalTransfer", "money_out", None),
        ("POST", "/sapi/v1/futures/transfer", "money_out", None),
        ("POST", "/papi/v1/asset-collection", "money_out", None),
        ("POST", "/sapi/v1/account/apiRestrictions/ipRestriction", "money_out", None),
        ("GET", "/sapi/v1/asset/transfer", "other", None),  # reading history is fine
        ("GET", "/papi/v1/um/order", "other", None),
        ("GET", "/fapi/v1/exchangeInfo", "other", None),
    ],
)
def test_classify_when_endpoint_then_kind(
    method: str, path: str, kind: str, order_kind: str | None
) -> None:
    route = classify(method, path)
    assert (route.kind, route.order_kind) == (kind, order_kind)


def test_classify_when_prefix_then_first_segment_as_sent() -> None:
    assert classify("GET", "/fapi/v1/ping").prefix == "fapi"
    assert classify("GET", "/PAPI/v1/ping").prefix == "PAPI"  # not configured: refused later
    assert classify("GET", "/api").prefix == "api"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"/",
        b"//evil/papi",
        b"/papi/../sapi/x",
        b"/papi/./x",
        b"/papi/v1/..",
        b"/papi/%2e%2e/x",
        b"/papi/v1/um order",
        b"/papi/v1/\xc3\xa9",
        b"/papi/v1//order",
        b"papi/v1/order",
    ],
)
def test_check_path_when_not_canonical_then_none(raw: bytes) -> None:
    assert check_path(raw) is None


def test_check_path_when_binance_path_then_text() -> None:
    assert check_path(b"/sapi/v1/margin/manual-liquidation") == "/sapi/v1/margin/manual-liquidation"
    assert check_path(b"/fapi/v1/order/") == "/fapi/v1/order/"
