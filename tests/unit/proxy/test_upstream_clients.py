"""Both upstream clients (built-in h1 and aiohttp) against a scripted raw HTTP server on
127.0.0.1: framing, keep-alive, header filtering, pool limit and the three failure kinds."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

from margin_gate.proxy.forward import Outbound
from margin_gate.proxy.forward import send
from margin_gate.proxy.h1 import H1Upstream
from margin_gate.proxy.upstream import AiohttpUpstream
from margin_gate.proxy.upstream import Upstream
from margin_gate.proxy.upstream import UpstreamBroken
from margin_gate.proxy.upstream import UpstreamTimeout
from margin_gate.proxy.upstream import UpstreamUnreachable
from tests.support.servers import free_port

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # -> keep the connection?
OK = b'{"orderId":1}'


def _response(body: bytes = OK, extra: bytes = b"", status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"X-MBX-USED-WEIGHT-1M: 7\r\nX-MBX-ORDER-COUNT-10S: 1\r\nSet-Cookie: a=b\r\n"
        b"Server: test\r\n" + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        + body
    )  # fmt: skip


@dataclass
class Scripted:
    """A raw HTTP/1.1 server: reads one request at a time and lets `reply` answer it."""

    reply: Reply
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                if not await self.reply(request, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Reply], Awaitable[Scripted]]]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> Scripted:
        scripted = Scripted(reply)
        server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0)
        scripted.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return scripted

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


CLIENTS: dict[str, type[H1Upstream] | type[AiohttpUpstream]] = {
    "h1": H1Upstream,
    "aiohttp": AiohttpUpstream,
}


@pytest.fixture(params=list(CLIENTS))
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Upstream]:
    upstream: Upstream = CLIENTS[request.param](
        timeout_s=0.5, connect_timeout_s=0.5, pool_size=2, keepalive_s=5
    )
    yield upstream
    await upstream.aclose()


async def _ok(request: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(_response())
    await writer.drain()
    return True


@pytest.mark.timeout(10)
async def test_send_when_answered_then_status_body_and_only_relay_headers(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange
    server = await serve(_ok)
    url = f"http://127.0.0.1:{server.port}/fapi/v1/order?a=1&b=%2F"
    # Act
    first = await client.send("POST", url, {"X-MBX-APIKEY": "k"}, b"x=1")
    second = await client.send("GET", url, {"X-MBX-APIKEY": "k"}, None)
    # Assert
    assert (first.status, first.body) == (200, OK)
    assert dict(first.headers) == {
        b"content-type": b"application/json",
        b"x-mbx-used-weight-1m": b"7",
        b"x-mbx-order-count-10s": b"1",
    }
    assert second.status == 200
    assert server.connections == 1  # keep-alive reuse
    post, get = server.requests
    assert post.startswith(b"POST /fapi/v1/order?a=1&b=%2F HTTP/1.1\r\n")
    assert post.endswith(b"\r\n\r\nx=1")
    assert b"\r\nX-MBX-APIKEY: k\r\n" in post
    assert get.startswith(b"GET /fapi/v1/order?a=1&b=%2F HTTP/1.1\r\n")


@pytest.mark.timeout(10)
async def test_send_when_chunked_or_connection_close_then_read_fully_and_reconnect(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange
    async def chunked_then_close(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 418 I'm a teapot\r\nTransfer-Encoding: chunked\r\nRetry-After: 9\r\n"
            b'Connection: close\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
        )
        await writer.drain()
        return False

    server = await serve(chunked_then_close)
    url = f"http://127.0.0.1:{server.port}/api/v3/ping"
    # Act
    answers = [await client.send("GET", url, {}, None) for _ in range(2)]
    # Assert
    assert [(a.status, a.body) for a in answers] == [(418, b'{"a":1}')] * 2
    assert (b"retry-after", b"9") in answers[0].headers
    assert server.connections == 2


@pytest.mark.timeout(10)
async def test_send_when_server_dropped_idle_connection_then_new_connection_used(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange: the server answers keep-alive, then closes the idle connection.
    async def answer_then_drop(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(_response())
        await writer.drain()
        return False

    server = await serve(answer_then_drop)
    url = f"http://127.0.0.1:{server.port}/api/v3/ping"
    await client.send("GET", url, {}, None)
    await asyncio.sleep(0.1)  # the close reaches the client while the connection is idle
    # Act
    again = await client.send("GET", url, {}, None)
    # Assert
    assert again.status == 200
    assert server.connections == 2


@pytest.mark.timeout(10)
async def test_send_when_pool_full_then_requests_wait_for_a_connection(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange
    async def slow(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        return await _ok(request, writer)

    server = await serve(slow)
    url = f"http://127.0.0.1:{server.port}/api/v3/ping"
    # Act
    answers = await asyncio.gather(*(client.send("GET", url, {}, None) for _ in range(8)))
    # Assert
    assert all(a.status == 200 for a in answers)
    assert server.connections == 2  # pool_size


@pytest.mark.timeout(10)
async def test_send_when_no_answer_in_time_then_timeout(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange
    async def never(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        return False

    server = await serve(never)
    # Act / Assert
    with pytest.raises(UpstreamTimeout):
        await client.send("POST", f"http://127.0.0.1:{server.port}/x", {}, b"a=1")


@pytest.mark.timeout(10)
async def test_send_when_connection_breaks_after_request_then_broken(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange
    async def half(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial')
        await writer.drain()
        return False

    server = await serve(half)
    # Act / Assert
    with pytest.raises(UpstreamBroken):
        await client.send("POST", f"http://127.0.0.1:{server.port}/x", {}, b"a=1")


@pytest.mark.timeout(10)
async def test_send_when_nothing_listens_then_unreachable(client: Upstream) -> None:
    # Act / Assert
    with pytest.raises(UpstreamUnreachable):
        await client.send("POST", f"http://127.0.0.1:{free_port()}/x", {}, b"a=1")


@pytest.mark.timeout(10)
async def test_forward_when_first_attempt_breaks_then_reads_retried_once_orders_never(
    serve: Callable[[Reply], Awaitable[Scripted]], client: Upstream
) -> None:
    # Arrange: every other request is dropped without an answer.
    async def drop_every_other(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if len(server.requests) % 2:
            return False
        return await _ok(request, writer)

    server = await serve(drop_every_other)
    url = f"http://127.0.0.1:{server.port}/papi/v1/balance"
    read = Outbound("GET", url, {}, None)
    order = Outbound("POST", f"http://127.0.0.1:{server.port}/papi/v1/um/order", {}, b"a=1")
    # Act
    answered = await send(client, read, retry_once=True)
    with pytest.raises(UpstreamBroken):
        await send(client, order, retry_once=False)
    # Assert
    assert answered.status == 200
    assert [r.split(b" ")[0] for r in server.requests] == [b"GET", b"GET", b"POST"]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.timeout(10)
async def test_h1_when_https_then_tls_verified_and_keep_alive(tmp_path: Path) -> None:
    # Arrange: a TLS server with a self-signed certificate for "localhost".
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    scripted = Scripted(_ok)
    server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    trusting = H1Upstream(ssl_context=ssl.create_default_context(cafile=str(cert)))
    strict = H1Upstream(connect_timeout_s=2)  # system CAs only
    try:
        # Act
        answers = [
            await trusting.send("GET", f"https://localhost:{port}/api/v3/ping", {}, None)
            for _ in range(2)
        ]
        with pytest.raises(UpstreamUnreachable):
            await strict.send("GET", f"https://localhost:{port}/api/v3/ping", {}, None)
    finally:
        await trusting.aclose()
        await strict.aclose()
        await asyncio.sleep(0.1)  # let the server see the close
        server.close()
        await server.wait_closed()
    # Assert
    assert [a.status for a in answers] == [200, 200]
    assert scripted.requests[0].startswith(b"GET /api/v3/ping HTTP/1.1\r\nHost: localhost:")
    assert scripted.connections == 1  # kept alive; the strict client never got past TLS


async def test_h1_when_target_has_crlf_then_refused_unsent() -> None:
    client = H1Upstream()
    with pytest.raises(UpstreamUnreachable):
        await client.send("GET", "http://127.0.0.1:9/x?a=1\r\nHost: evil", {}, None)
    with pytest.raises(UpstreamUnreachable):
        await client.send("GET", "http://127.0.0.1:9/x?a=1 HTTP/1.1", {}, None)
