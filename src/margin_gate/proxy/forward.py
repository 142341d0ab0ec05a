"""Build the upstream request (re-signed or raw) and send it: what we sign is what we send.

Re-signing (binance-pm.md §3.1 "Proxy implication"): take the parameters exactly as the gateway
parsed them (query wins over body, §2.1), drop the bot's `signature`, set `timestamp` to now
(in place; the bot's `recvWindow` stays), form-encode once, sign those bytes with the account's
key and append `signature` last. Everything goes in ONE place: the query string for GET and
DELETE, a form body for POST and PUT, so Binance's totalParams is unambiguous.

Only headers we choose reach Binance: `X-MBX-APIKEY` (the account's, or none for public calls)
and `Content-Type` for a body. The bot's own headers (its key, cookies, X-Forwarded-*, Host,
hop-by-hop headers) are never copied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote

from margin_gate.proxy.upstream import Upstream
from margin_gate.proxy.upstream import UpstreamBroken
from margin_gate.proxy.upstream import UpstreamResponse
from margin_gate.proxy.upstream import UpstreamUnreachable
from margin_gate.settings import Account
from margin_gate.wire.params import Params

__all__ = ["FORM", "Outbound", "encode_value", "raw_request", "resigned_request", "send"]

FORM = "application/x-www-form-urlencoded"
_QUERY_METHODS = frozenset({"GET", "DELETE"})
# wire/params.py `encode_params`'s encoding: unreserved characters as they are, the rest
# percent-encoded (any consistent encoding works: we sign the bytes we send).
_SAFE = "-_.~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9_.~\-]")


@dataclass(slots=True)
class Outbound:
    method: str
    url: str  # base + path + ?query, percent-encoded
    headers: Mapping[str, str]  # shared and read-only (one per account and kind)
    body: bytes | None


def encode_value(text: str) -> str:
    """One parameter name or value, form-encoded (as wire/params.py `encode_params`)."""
    if text.isalnum() and text.isascii():  # the common case, without a regex
        return text
    return quote(text, safe=_SAFE) if _NEEDS_QUOTING.search(text) else text


# Parameter name -> its encoding: names repeat on every order (bounded all the same).
_NAMES: dict[str, str] = {}
# Exchange API key -> the header mappings sent with it (a query, a form body).
_HEADERS: dict[bytes, tuple[Mapping[str, str], Mapping[str, str]]] = {}


def _name(name: str) -> str:
    encoded = encode_value(name)
    if len(_NAMES) < 1024:
        _NAMES[name] = encoded
    return encoded


def account_headers(account: Account) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """(headers for a query-string request, for a form-body request) with the account's key."""
    key = account.api_key.value
    found = _HEADERS.get(key)
    if found is None:
        text = account.api_key.text()
        found = (
            MappingProxyType({"X-MBX-APIKEY": text}),
            MappingProxyType({"X-MBX-APIKEY": text, "Content-Type": FORM}),
        )
        _HEADERS[key] = found
    return found


def resigned_request(
    method: str, base: str, path: str, params: Params, account: Account, now_ms: int
) -> Outbound:
    """The parameters as parsed, `timestamp` set to `now_ms`, form-encoded once and signed
    with the account's key; `signature` last."""
    stamp = str(now_ms)
    names = _NAMES
    parts = []
    for k, v in params.items_:
        name = names.get(k) or _name(k)
        parts.append(f"{name}={stamp if k == 'timestamp' else encode_value(v)}")
    payload = "&".join(parts).encode("ascii")
    signature = account.signer.sign(payload)
    if not signature.isalnum():  # base64 (Ed25519, RSA); HMAC's hex needs no quoting
        signature = quote(signature, safe="")
    signed = payload + b"&signature=" + signature.encode("ascii")
    query_headers, body_headers = account_headers(account)
    if method in _QUERY_METHODS:
        return Outbound(method, f"{base}{path}?{signed.decode('ascii')}", query_headers, None)
    return Outbound(method, f"{base}{path}", body_headers, signed)


def raw_request(
    method: str, base: str, path: str, query: str, body: bytes, account: Account | None
) -> Outbound:
    """Public or API-key-only call: the bot's own parameters, untouched."""
    url = f"{base}{path}?{query}" if query else f"{base}{path}"
    if account is None:
        if method == "GET" or not body:
            return Outbound(method, url, _NO_HEADERS, None)
        return Outbound(method, url, _FORM_ONLY, body)
    query_headers, body_headers = account_headers(account)
    if method == "GET" or not body:
        return Outbound(method, url, query_headers, None)
    return Outbound(method, url, body_headers, body)


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_FORM_ONLY: Mapping[str, str] = MappingProxyType({"Content-Type": FORM})


async def send(upstream: Upstream, out: Outbound, *, retry_once: bool) -> UpstreamResponse:
    """Send once; a read (`retry_once`) gets one more try after a connection error.

    Never pass `retry_once` for anything that can place, modify or cancel: its first attempt
    may have executed (§3.5 "execution status unknown")."""
    try:
        return await upstream.send(out.method, out.url, out.headers, out.body)
    except (UpstreamUnreachable, UpstreamBroken):
        if not retry_once:
            raise
    return await upstream.send(out.method, out.url, out.headers, out.body)
