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

from dataclasses import dataclass
from urllib.parse import quote

from margin_gate.proxy.upstream import Upstream
from margin_gate.proxy.upstream import UpstreamBroken
from margin_gate.proxy.upstream import UpstreamResponse
from margin_gate.proxy.upstream import UpstreamUnreachable
from margin_gate.settings import Account
from margin_gate.wire.params import Params
from margin_gate.wire.params import encode_params

__all__ = ["FORM", "Outbound", "raw_request", "resigned_request", "send"]

FORM = "application/x-www-form-urlencoded"
_QUERY_METHODS = frozenset({"GET", "DELETE"})


@dataclass(frozen=True, slots=True)
class Outbound:
    method: str
    url: str  # base + path + ?query, percent-encoded
    headers: dict[str, str]
    body: bytes | None


def resigned_request(
    method: str, base: str, path: str, params: Params, account: Account, now_ms: int
) -> Outbound:
    stamp = str(now_ms)
    items = [(k, stamp if k == "timestamp" else v) for k, v in params.items_]
    payload = encode_params(items)
    signature = account.signer.sign(payload)
    signed = payload + b"&signature=" + quote(signature, safe="").encode("ascii")
    headers = {"X-MBX-APIKEY": account.api_key.text()}
    if method in _QUERY_METHODS:
        return Outbound(method, f"{base}{path}?{signed.decode('ascii')}", headers, None)
    headers["Content-Type"] = FORM
    return Outbound(method, f"{base}{path}", headers, signed)


def raw_request(
    method: str, base: str, path: str, query: str, body: bytes, account: Account | None
) -> Outbound:
    """Public or API-key-only call: the bot's own parameters, untouched."""
    url = f"{base}{path}?{query}" if query else f"{base}{path}"
    headers = {} if account is None else {"X-MBX-APIKEY": account.api_key.text()}
    if method == "GET" or not body:
        return Outbound(method, url, headers, None)
    headers["Content-Type"] = FORM
    return Outbound(method, url, headers, body)


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
