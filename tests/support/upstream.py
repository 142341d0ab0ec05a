"""A verifying Binance stand-in for gateway tests: real starlette app, run under uvicorn.

It checks every signed request the way Binance would, independently of margin-gate's code:
`X-MBX-APIKEY` must be the exchange key, `signature` must verify over the raw query string +
raw body (minus the signature chunk) with the exchange secret (HMAC; Ed25519/RSA public key when
configured), and `timestamp`/`recvWindow` must hold against its own clock. It records every
request it receives (so tests can assert what did or did not arrive), answers Binance-shaped
JSON for order / query / cancel / ping / time / exchangeInfo / listenKey and ccxt's pre-flight
calls, returns rate-limit headers, and can be told to add latency or fail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import re
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SIG_CHUNK = re.compile(rb"(^|&)signature=[^&]*")
ORDER_PATHS = (
    "/papi/v1/um/order",
    "/papi/v1/cm/order",
    "/papi/v1/margin/order",
    "/fapi/v1/order",
    "/dapi/v1/order",
    "/api/v3/order",
    "/sapi/v1/margin/order",
)
LISTEN_KEY_PATHS = ("/papi/v1/listenKey", "/fapi/v1/listenKey", "/api/v3/userDataStream")


@dataclass
class Received:
    method: str
    path: str
    query: bytes
    body: bytes
    headers: dict[str, str]
    params: list[tuple[str, str]]  # query then body, as received (signature included)
    signed: bool
    verified: bool
    error: str | None = None

    def param(self, key: str) -> str | None:
        return next((v for k, v in self.params if k == key), None)


@dataclass
class _Faults:
    latency_s: float = 0.0
    statuses: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)


class VerifyingUpstream:
    def __init__(
        self,
        *,
        api_key: str,
        secret: bytes | None = None,
        public_key_pem: bytes | None = None,
        key_kind: str = "hmac",
    ) -> None:
        self.api_key = api_key
        self.key_kind = key_kind
        self._secret = secret
        self._public = serialization.load_pem_public_key(public_key_pem) if public_key_pem else None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._orders: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1000)
        self._faults = _Faults()
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=_METHODS)])

    # -- test controls --
    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._faults = _Faults()

    def set_latency(self, seconds: float) -> None:
        self._faults.latency_s = seconds

    def fail_next(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        for _ in range(times):
            self._faults.statuses.append((status, body, headers or {}))

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    # -- verification --
    def _verify(self, request: Request, query: bytes, body: bytes) -> tuple[bool, str | None]:
        if request.headers.get("x-mbx-apikey") != self.api_key:
            return False, "wrong X-MBX-APIKEY"
        raw = query + body
        match = _SIG_CHUNK.search(raw)
        params = dict(parse_qsl(query.decode()) + parse_qsl(body.decode()))
        signature = params.get("signature")
        if match is None or signature is None:
            return False, "no signature"
        if match.end() != len(raw):
            return False, "signature is not the last parameter"
        # totalParams = query + body, concatenated, minus the signature itself (§3.1).
        payload = raw[: match.start()]
        if not self._check_signature(payload, signature):
            return False, "bad signature"
        try:
            ts = int(params["timestamp"])
        except (KeyError, ValueError):
            return False, "no timestamp"
        window = int(params.get("recvWindow", "5000"))
        now = int(time.time() * 1000)
        if not (ts < now + 1000 and now - ts <= window):
            return False, "timestamp outside recvWindow"
        return True, None

    def _check_signature(self, payload: bytes, signature: str) -> bool:
        if self.key_kind == "hmac":
            assert self._secret is not None
            expected = hmac.new(self._secret, payload, hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, signature.lower())
        raw = base64.b64decode(signature)
        try:
            if isinstance(self._public, Ed25519PublicKey):
                self._public.verify(raw, payload)
            elif isinstance(self._public, RSAPublicKey):
                self._public.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
            else:
                return False
        except InvalidSignature:
            return False
        return True

    # -- the endpoint --
    async def _endpoint(self, request: Request) -> Response:
        query = request.scope["query_string"]
        body = await request.body()
        path = request.url.path
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        params += parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        signed = any(k == "signature" for k, _ in params)
        verified, error = self._verify(request, query, body) if signed else (False, None)
        record = Received(
            request.method,
            path,
            query,
            body,
            dict(request.headers),
            params,
            signed,
            verified,
            error,
        )
        with self._lock:
            self.received.append(record)
            fault = self._faults.statuses.pop(0) if self._faults.statuses else None
        if self._faults.latency_s:
            await asyncio.sleep(self._faults.latency_s)
        weight = {"X-MBX-USED-WEIGHT-1M": str(len(self.received))}
        if fault is not None:
            status, fbody, fheaders = fault
            return Response(fbody, status, {**weight, **fheaders}, media_type="application/json")
        if signed and not verified:
            return _json({"code": -1022, "msg": f"upstream: {error}"}, 400, weight)
        if path in LISTEN_KEY_PATHS:
            if request.headers.get("x-mbx-apikey") != self.api_key:
                return _json({"code": -2015, "msg": "Invalid API-key"}, 401, weight)
            return _json({"listenKey": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1"}, 200, weight)
        if path in ORDER_PATHS and signed:
            return self._order(request.method, dict(params), weight)
        return _json(_PUBLIC.get(path, {}), 200, weight)

    def _order(self, method: str, p: dict[str, str], weight: dict[str, str]) -> Response:
        headers = {**weight, "X-MBX-ORDER-COUNT-10S": "1", "X-MBX-ORDER-COUNT-1M": "1"}
        if method == "POST":
            oid = next(self._ids)
            order: dict[str, Any] = {
                "orderId": oid,
                "symbol": p.get("symbol"),
                "status": "NEW",
                "clientOrderId": p.get("newClientOrderId", f"gw{oid}"),
                "price": p.get("price", "0"),
                "avgPrice": "0.00000",
                "origQty": p.get("quantity", "0"),
                "executedQty": "0",
                "cumQty": "0",
                "cumQuote": "0",
                "cummulativeQuoteQty": "0",
                "timeInForce": p.get("timeInForce", "GTC"),
                "type": p.get("type"),
                "reduceOnly": False,
                "side": p.get("side"),
                "positionSide": "BOTH",
                "origType": p.get("type"),
                "updateTime": int(time.time() * 1000),
                "transactTime": int(time.time() * 1000),
                "time": int(time.time() * 1000),
            }
            with self._lock:
                self._orders[oid] = order
            return _json(order, 200, headers)
        found = self._find(p)
        if found is None:
            return _json({"code": -2013, "msg": "Order does not exist."}, 400, headers)
        if method == "DELETE":
            found["status"] = "CANCELED"
        return _json(found, 200, headers)

    def _find(self, p: dict[str, str]) -> dict[str, Any] | None:
        with self._lock:
            if "orderId" in p:
                return self._orders.get(int(p["orderId"]))
            cid = p.get("origClientOrderId")
            return next((o for o in self._orders.values() if o["clientOrderId"] == cid), None)


_METHODS = ["GET", "POST", "PUT", "DELETE"]


def _json(data: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type="application/json")


def _futures_symbol(symbol: str, base: str, quote: str, margin: str, ctype: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": f"{base}{quote}",
        "contractType": ctype,
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "contractStatus": "TRADING",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": margin,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "contractSize": 100 if margin == base else 1,
        "underlyingType": "COIN",
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.1", "maxPrice": "1e6", "tickSize": "0.1"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.001",
                "maxQty": "99",
                "stepSize": "0.001",
            },
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
    }


_PUBLIC: dict[str, Any] = {
    "/api/v3/time": {"serverTime": 0},
    "/fapi/v1/time": {"serverTime": 0},
    "/fapi/v1/exchangeInfo": {
        "timezone": "UTC",
        "serverTime": 0,
        "rateLimits": [],
        "assets": [],
        "symbols": [_futures_symbol("BTCUSDT", "BTC", "USDT", "USDT", "PERPETUAL")],
    },
    "/dapi/v1/exchangeInfo": {
        "timezone": "UTC",
        "serverTime": 0,
        "rateLimits": [],
        "symbols": [_futures_symbol("BTCUSD_PERP", "BTC", "USD", "BTC", "PERPETUAL")],
    },
    "/api/v3/exchangeInfo": {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "symbols": []},
    "/sapi/v1/capital/config/getall": [],
    "/sapi/v1/margin/allPairs": [],
    "/sapi/v1/margin/isolated/allPairs": [],
}
