"""A small keep-alive HTTP/1.1 client for the one job the gateway has: send a request it built
itself to a fixed set of upstream origins and read back status, body and a few headers.

Why it exists: the pass-through benchmark (README "Upstream client") showed aiohttp's client
as the largest single cost per request; this client does only what the gateway needs (no
redirects, cookies, compression, proxies or streaming), on asyncio protocols with the
httptools parser uvicorn already uses, and cuts that cost by more than half.

Semantics (the same `Upstream` contract and errors as proxy/upstream.py):
- A pool of idle connections per origin, at most `pool_size` open per origin; a request waits
  for a free slot. A connection idle for longer than `keepalive_s`, or closed by the server, is
  never reused.
- `connect_timeout_s` bounds TCP (+TLS) set-up -> `UpstreamUnreachable` (nothing was sent).
- `timeout_s` bounds the whole exchange -> `UpstreamTimeout` (it may have executed); the
  connection is then closed, never reused.
- A connection that breaks after the request was written -> `UpstreamBroken`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import cast
from urllib.parse import urlsplit

import httptools

from margin_gate.proxy.upstream import UpstreamBroken
from margin_gate.proxy.upstream import UpstreamResponse
from margin_gate.proxy.upstream import UpstreamTimeout
from margin_gate.proxy.upstream import UpstreamUnreachable

__all__ = ["H1Upstream"]

_USER_AGENT = b"margin-gate/0.1"


class _Connection(asyncio.Protocol):
    """One upstream connection; at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroken(f"malformed upstream response ({type(exc).__name__})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(UpstreamBroken("upstream closed the connection"))

    # -- httptools callbacks --
    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower.startswith(b"x-mbx-") or lower in (b"content-type", b"retry-after"):
            self._headers.append((lower, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        self._waiter = None
        status = self._parser.get_status_code()
        if not self._parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(UpstreamResponse(status, b"".join(self._body), self._headers))

    # -- use --
    def request(self, data: bytes) -> asyncio.Future[UpstreamResponse]:
        assert self.transport is not None
        assert self._waiter is None
        self._headers = []
        self._body = []
        waiter = self._loop.create_future()
        self._waiter = waiter
        self.transport.write(data)
        return waiter

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Origin:
    """Connections to one scheme://host:port."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        default = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        self.host_header = (self.host if default else f"{self.host}:{self.port}").encode("ascii")
        # The header lines every request to this origin starts with.
        self.head = b"Host: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n" % (
            self.host_header,
            _USER_AGENT,
        )
        self.idle: deque[_Connection] = deque()
        self.slots = asyncio.Semaphore(limit)


class H1Upstream:
    def __init__(
        self,
        *,
        connect_timeout_s: float = 2.0,
        timeout_s: float = 10.0,
        pool_size: int = 100,
        keepalive_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,  # default: system CAs, hostname checked
    ) -> None:
        self._connect_timeout = connect_timeout_s
        self._timeout = timeout_s
        self._pool_size = pool_size
        self._keepalive = keepalive_s
        self._origins: dict[str, _Origin] = {}
        self._ssl = ssl_context
        # id(read-only header mapping) -> (the mapping, its serialized lines): the gateway
        # sends one of a few shared mappings (proxy/forward.py `account_headers`).
        self._blocks: dict[int, tuple[Mapping[str, str], bytes]] = {}

    def _header_block(self, headers: Mapping[str, str]) -> bytes:
        cached = self._blocks.get(id(headers))
        if cached is not None and cached[0] is headers:
            return cached[1]
        block = b"".join([f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items()])
        # Only immutable mappings are cached (a dict could change under the same id); the
        # entry keeps the mapping alive, so its id cannot be reused meanwhile.
        if type(headers) is MappingProxyType and len(self._blocks) < 64:
            self._blocks[id(headers)] = (headers, block)
        return block

    async def send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> UpstreamResponse:
        start = url.find("/", url.find("//") + 2)
        base, target = (url, "/") if start < 0 else (url[:start], url[start:])
        if not target.isprintable() or " " in target:
            # Defence in depth: callers pass validated targets; never split a request line.
            raise UpstreamUnreachable("refusing a request target with spaces or controls")
        origin = self._origins.get(base)
        if origin is None:
            origin = self._origins[base] = _Origin(base, self._pool_size)
        data = _serialize(method, target, origin.head, self._header_block(headers), body)
        async with origin.slots:
            loop = asyncio.get_running_loop()
            conn = self._idle(origin, loop.time())
            if conn is None:
                conn = await self._connect(origin, loop)
            waiter = conn.request(data)
            timer = loop.call_later(self._timeout, _expire, waiter)
            try:
                response = await waiter
            except BaseException:
                conn.close()
                raise
            finally:
                timer.cancel()
            if not conn.closed:
                conn.idle_since = loop.time()
                origin.idle.append(conn)
            return response

    def _idle(self, origin: _Origin, now: float) -> _Connection | None:
        idle = origin.idle
        while idle:
            conn = idle.pop()  # most recently used: least likely to have been closed
            if not conn.closed and now - conn.idle_since < self._keepalive:
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin, loop: asyncio.AbstractEventLoop) -> _Connection:
        context: ssl.SSLContext | None = None
        if origin.tls:
            context = self._ssl = self._ssl or ssl.create_default_context()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context else None,
                ),
                self._connect_timeout,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise UpstreamUnreachable(
                f"{type(exc).__name__} connecting to {origin.host}:{origin.port}"
            ) from exc
        return conn

    async def aclose(self) -> None:
        for origin in self._origins.values():
            while origin.idle:
                origin.idle.pop().close()
        self._origins.clear()


def _expire(waiter: asyncio.Future[UpstreamResponse]) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamTimeout("no answer within the timeout"))


def _serialize(method: str, target: str, head: bytes, headers: bytes, body: bytes | None) -> bytes:
    """The request: request line, the origin's fixed lines, `headers` (serialized lines), the
    body's length, the body."""
    line = f"{method} {target} HTTP/1.1\r\n".encode("ascii")
    if body:
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        return b"".join((line, head, headers, length, body))
    if method in ("POST", "PUT"):
        return b"".join((line, head, headers, b"Content-Length: 0\r\n\r\n"))
    return b"".join((line, head, headers, b"\r\n"))
