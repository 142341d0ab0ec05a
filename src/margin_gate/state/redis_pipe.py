"""`RespPipe`: one multiplexed Redis connection for the order path (docs/state.md "Performance").

redis-py spends ~50–60 µs of CPU per command (connection pool checkout and release, retry
wrapper, argument encoding in Python, a reply parser and timeouts per read). The order path
sends a few small commands per order (replay SET NX, RESERVE, SETTLE), so that overhead was
most of what the Redis store cost. The pipe writes each command at once on one connection
(hiredis packs it), and a protocol callback matches replies to waiters in order (hiredis
parses them): concurrent commands pipeline on the socket by themselves, without a lock, and
reach Redis in the order they were issued.

Failure semantics are redis-py's without its retries: a command whose connection is lost
before its reply raises `redis.exceptions.ConnectionError` (a `RedisError`; the store turns it
into `StateUnavailable` — fail closed; a retry could run a RESERVE twice); the next command
reconnects. Error replies raise `ResponseError`. Scripts run by EVALSHA, falling back to EVAL
when Redis does not know the script (after a restart or SCRIPT FLUSH).

Only for plain TCP or unix-socket clients of `redis.asyncio.Redis` and when hiredis is
installed (`RespPipe.for_client` returns None otherwise: Sentinel, Cluster, TLS, test doubles
keep using redis-py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any
from typing import cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import ResponseError

try:
    import hiredis

    HAVE_HIREDIS = True
except ImportError:  # pragma: no cover - hiredis is a dependency; redis-py works without it
    HAVE_HIREDIS = False

__all__ = ["RespPipe", "Script"]

Arg = str | bytes | int | float | memoryview


class Script:
    """A Lua script run through a pipe: EVALSHA, EVAL when Redis lost it."""

    def __init__(self, pipe: RespPipe, source: str) -> None:
        self.pipe = pipe
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # Redis names a script by its SHA1

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.pipe.call("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self.pipe.call("EVAL", self.source, len(keys), *keys, *args)

    def send(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any] | None:
        """Run without awaiting: the reply's future (EVAL fallback included), or None when
        the pipe has no live connection (then await the script instead)."""
        first = self.pipe.send("EVALSHA", self.sha, len(keys), *keys, *args)
        if first is None:
            return None
        out: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(f: asyncio.Future[Any]) -> None:
            if out.done():
                return
            if f.cancelled():
                out.cancel()
                return
            exc = f.exception()
            if isinstance(exc, NoScriptError):
                again = self.pipe.send("EVAL", self.source, len(keys), *keys, *args)
                if again is None:
                    out.set_exception(RedisConnectionError("connection to Redis lost"))
                else:
                    again.add_done_callback(done)
                return
            if exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(f.result())

        first.add_done_callback(done)
        return out


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RespPipe) -> None:
        self.pipe = pipe
        self.on_message = pipe.on_message
        self.reader = hiredis.Reader(protocolError=RedisConnectionError, replyError=ResponseError)
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.out: list[bytes] = []  # commands of this loop iteration, written together

    def write(self, command: bytes) -> None:
        """Queue `command`; everything queued in one loop iteration goes out in one write
        (at c=32 one syscall here and one read in Redis for many commands)."""
        if not self.out:
            self.loop.call_soon(self.flush)
        self.out.append(command)

    def flush(self) -> None:
        out, self.out = self.out, []
        if self.transport is not None and not self.lost and out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiters = self.waiters
        while True:
            try:
                reply = reader.gets()
            except RedisConnectionError as exc:  # the stream is garbage: drop the connection
                self._fail(exc)
                if self.transport is not None:
                    self.transport.close()
                return
            if reply is False:
                return
            if self.on_message is not None and type(reply) is list and reply[0] == b"message":
                self.on_message(reply[1], reply[2])  # pub/sub: no waiter, applied right here
                continue
            if not waiters:  # a reply nobody asked for: out of step
                self._fail(RedisConnectionError("unexpected reply from Redis"))
                if self.transport is not None:
                    self.transport.close()
                return
            fut = waiters.popleft()
            if fut.done():  # its caller was cancelled
                continue
            if isinstance(reply, ResponseError):
                fut.set_exception(_error(reply))
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self.pipe.on_lost is not None:
            self.pipe.on_lost()

    def _fail(self, exc: Exception) -> None:
        self.lost = True
        if self.pipe._proto is self:
            self.pipe._proto = None
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)


def _error(reply: ResponseError) -> ResponseError:
    text = str(reply)
    if text.startswith("NOSCRIPT"):
        return NoScriptError(text)
    return reply


class RespPipe:
    """One connection, commands pipelined in the order issued (see module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 5.0,
        on_message: Callable[[bytes, bytes], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        if not HAVE_HIREDIS:  # pragma: no cover
            raise RuntimeError("RespPipe needs hiredis")
        self.host, self.port, self.path = host, port, path
        self.db, self.username, self.password = db, username, password
        self.connect_timeout = connect_timeout
        self.on_message = on_message
        self.on_lost = on_lost
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self.connects = 0

    @classmethod
    def for_client(cls, client: Any) -> RespPipe | None:
        """A pipe to the server `client` (a plain `redis.asyncio.Redis`) talks to, or None."""
        if not HAVE_HIREDIS:  # pragma: no cover
            return None
        from redis.asyncio import Redis
        from redis.asyncio.connection import Connection
        from redis.asyncio.connection import UnixDomainSocketConnection

        if type(client) is not Redis:
            return None
        pool = getattr(client, "connection_pool", None)
        kind = getattr(pool, "connection_class", None)
        kw: dict[str, Any] = getattr(pool, "connection_kwargs", {})
        if kw.get("credential_provider") is not None or kw.get("protocol") not in (None, 2, "2"):
            return None
        common: dict[str, Any] = {
            "db": int(kw.get("db") or 0),
            "username": kw.get("username"),
            "password": kw.get("password"),
        }
        if kind is Connection:
            return cls(host=kw.get("host", "localhost"), port=int(kw.get("port", 6379)), **common)
        if kind is UnixDomainSocketConnection:
            return cls(path=kw["path"], **common)
        return None

    async def call(self, *args: Arg) -> Any:
        """Send one command; its reply (RESP2 as hiredis returns it: bytes, int, list, None)."""
        proto = self._proto
        if proto is None or proto.lost:
            proto = await self._connect()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proto.waiters.append(fut)
        proto.write(hiredis.pack_command(cast(Any, args)))
        return await fut

    def send(self, *args: Arg) -> asyncio.Future[Any] | None:
        """`call` without awaiting: the reply's future, or None when there is no live
        connection (the caller awaits `call`, which connects)."""
        proto = self._proto
        if proto is None or proto.lost or proto.transport is None:
            return None
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proto.waiters.append(fut)
        proto.write(hiredis.pack_command(cast(Any, args)))
        return fut

    async def _connect(self) -> _Protocol:
        if self._connecting is not None:  # another command is connecting: share it
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            proto = await asyncio.wait_for(self._open(), self.connect_timeout)
        except BaseException as exc:
            failed, self._connecting = self._connecting, None
            error = (
                exc
                if isinstance(exc, RedisConnectionError | ResponseError)
                else RedisConnectionError(f"cannot connect to Redis: {exc!r}")
            )
            if not failed.done():
                failed.set_exception(error)
                failed.exception()  # retrieved: no "never retrieved" warning
            if isinstance(exc, Exception) and error is not exc:
                raise error from exc
            raise
        done, self._connecting = self._connecting, None
        done.set_result(proto)
        return proto

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        proto = _Protocol(self)
        if self.path is not None:
            await loop.create_unix_connection(lambda: proto, self.path)
        else:
            await loop.create_connection(lambda: proto, self.host, self.port)
        self._proto = proto
        self.connects += 1
        try:
            if self.password is not None:
                auth = (self.username, self.password) if self.username else (self.password,)
                await self.call("AUTH", *auth)
            if self.db:
                await self.call("SELECT", self.db)
        except BaseException:
            self.close()
            raise
        return proto

    def close(self) -> None:
        """Close the connection (it is gone once the loop ran its callbacks; see aclose)."""
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.flush()  # what was issued goes out first
            proto.transport.close()

    async def aclose(self) -> None:
        proto = self._proto
        self.close()
        if proto is not None and proto.transport is not None:
            await asyncio.shield(proto.closed)

    def close_with(self, client: Any) -> None:
        """Close this pipe when `client` closes its connection pool (`client.aclose()`; its
        owner may hold that bound method already, so the pool's method is the hook)."""
        pool = client.connection_pool
        inner = pool.aclose

        async def aclose(*args: Any, **kwargs: Any) -> Any:
            await self.aclose()
            return await inner(*args, **kwargs)

        pool.aclose = aclose

    def subscriber(
        self, on_message: Callable[[bytes, bytes], None], on_lost: Callable[[], None]
    ) -> RespPipe:
        """A new pipe to the same server for pub/sub: `on_message(channel, data)` runs in the
        protocol callback for every message, in order (no task, no polling), `on_lost()` when
        the connection goes; SUBSCRIBE one channel per call (each answers exactly one reply)."""
        return RespPipe(
            host=self.host,
            port=self.port,
            path=self.path,
            db=self.db,
            username=self.username,
            password=self.password,
            connect_timeout=self.connect_timeout,
            on_message=on_message,
            on_lost=on_lost,
        )

    @property
    def lost(self) -> bool:
        """No live connection (never opened, closed, or dropped)."""
        return self._proto is None or self._proto.lost

    def script(self, source: str) -> Script:
        return Script(self, source)
