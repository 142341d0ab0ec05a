"""The upstream HTTP client: one shared keep-alive aiohttp session with explicit timeouts.

Why aiohttp and not httpx: README "Why aiohttp" (httpx 0.28's pool collapses under
concurrency on this machine; bench/bench_passthrough.py measures all three options).

Failures are raised as three `UpstreamError`s that say what is known about the request:

    UpstreamError
     ├── UpstreamUnreachable   connecting failed: nothing was sent
     ├── UpstreamTimeout       no complete answer in time: the request may have executed
     └── UpstreamBroken        the connection broke after sending began: may have executed

Only response headers the bot needs are relayed (§3.4): Content-Type, every `X-MBX-*`
(used weight, order count, ...) and `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

__all__ = [
    "AiohttpUpstream",
    "Upstream",
    "UpstreamBroken",
    "UpstreamError",
    "UpstreamResponse",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "relay_headers",
]

_USER_AGENT = "margin-gate/0.1"


class UpstreamError(Exception):
    """The upstream gave no usable answer."""


class UpstreamUnreachable(UpstreamError):
    """Connecting failed: the request was not sent."""


class UpstreamTimeout(UpstreamError):
    """No complete answer within the timeout: the request may have executed."""


class UpstreamBroken(UpstreamError):
    """The connection failed after sending began: the request may have executed."""


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]  # already filtered by `relay_headers`


class Upstream(Protocol):
    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> UpstreamResponse:
        """Send one request exactly as given (`url` is already percent-encoded)."""
        ...

    async def aclose(self) -> None: ...


def relay_headers(raw: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in raw:
        lower = name.lower()
        if lower.startswith(b"x-mbx-") or lower in (b"content-type", b"retry-after"):
            out.append((lower, value))
    return out


class AiohttpUpstream:
    """aiohttp `ClientSession` created on first use inside the running loop."""

    def __init__(
        self,
        *,
        connect_timeout_s: float = 2.0,
        timeout_s: float = 10.0,
        pool_size: int = 100,
        keepalive_s: float = 15.0,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=connect_timeout_s, sock_connect=connect_timeout_s
        )
        self._pool_size = pool_size
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._pool_size,
            keepalive_timeout=self._keepalive_s,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            # Nothing of the bot's request reaches Binance but what we set explicitly; no
            # compression so the body we relay is the body Binance sent.
            skip_auto_headers=("Accept-Encoding",),
            headers={"User-Agent": _USER_AGENT},
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self._session

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> UpstreamResponse:
        session = self._session or self._open()
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as resp:
                data = await resp.read()
                return UpstreamResponse(resp.status, data, relay_headers(resp.raw_headers))
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnreachable(_describe(exc)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout("no answer within the timeout") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(_describe(exc)) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(exc: BaseException) -> str:
    # aiohttp messages may include the URL; keep only the class name and the host part.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{type(exc).__name__} to {exc.host}:{exc.port}"
    return type(exc).__name__
