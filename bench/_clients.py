"""Upstream clients for the benchmark: the gateway's aiohttp client and two httpx variants.

Each implements margin_gate.proxy.upstream.Upstream, so the gateway runs unchanged with any of
them; only the benchmark builds the httpx ones (the gateway itself ships aiohttp only).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from margin_gate.proxy.h1 import H1Upstream
from margin_gate.proxy.upstream import AiohttpUpstream
from margin_gate.proxy.upstream import Upstream
from margin_gate.proxy.upstream import UpstreamResponse
from margin_gate.proxy.upstream import relay_headers

CLIENTS = ("h1", "aiohttp", "httpx", "httpx-aiohttp")


class HttpxUpstream:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(10.0, connect=2.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> UpstreamResponse:
        r = await self._client.request(method, url, headers=headers, content=body)
        return UpstreamResponse(r.status_code, r.content, relay_headers(tuple(r.headers.raw)))

    async def aclose(self) -> None:
        await self._client.aclose()


def make_upstream(name: str) -> Upstream:
    if name == "aiohttp":
        return AiohttpUpstream()
    if name == "h1":
        return H1Upstream()
    if name == "httpx":
        return HttpxUpstream()
    if name == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return HttpxUpstream(AiohttpTransport())
    raise ValueError(f"unknown client {name!r}; choose from {CLIENTS}")
