"""`RespPipe`: the order path's multiplexed Redis connection, against a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from margin_gate.auth.replay import RedisReplayGuard
from margin_gate.auth.replay import ReplayGuardFull
from margin_gate.state.redis_keys import connect
from margin_gate.state.redis_pipe import RespPipe

pytestmark = pytest.mark.redis


@pytest.fixture
async def pipe(redis_url: str) -> AsyncIterator[RespPipe]:
    """A RespPipe on the test Redis, closed after the test."""
    made = RespPipe.for_client(connect(redis_url))
    assert made is not None
    try:
        yield made
    finally:
        await made.aclose()


async def test_for_client_when_plain_url_then_pipe_and_commands_answer(
    redis_url: str, redis_prefix: str
) -> None:
    client = connect(redis_url)
    pipe = RespPipe.for_client(client)
    assert pipe is not None
    try:
        assert await pipe.call("SET", f"{redis_prefix}:k", b"v") == b"OK"
        assert await pipe.call("GET", f"{redis_prefix}:k") == b"v"
        assert await pipe.call("GET", f"{redis_prefix}:none") is None
        assert await pipe.call("DEL", f"{redis_prefix}:k") == 1
    finally:
        await pipe.aclose()
        await client.aclose()


def test_for_client_when_not_a_plain_client_then_none() -> None:
    assert RespPipe.for_client(object()) is None
    assert RespPipe.for_client(aioredis.Redis(ssl=True)) is None


async def test_call_when_concurrent_then_replies_matched_in_order(
    pipe: RespPipe, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:n"
    replies = await asyncio.gather(*(pipe.call("INCR", key) for _ in range(200)))
    assert replies == list(range(1, 201))  # sent and answered in issue order
    assert pipe.connects == 1


async def test_call_when_error_reply_then_raises_and_pipe_stays_in_step(
    pipe: RespPipe, redis_prefix: str
) -> None:
    await pipe.call("SET", f"{redis_prefix}:s", b"x")
    with pytest.raises(ResponseError):
        await pipe.call("INCR", f"{redis_prefix}:s")
    assert await pipe.call("GET", f"{redis_prefix}:s") == b"x"


async def test_call_when_caller_cancelled_then_later_replies_still_matched(
    pipe: RespPipe, redis_prefix: str
) -> None:
    await pipe.call("SET", f"{redis_prefix}:c", b"1")
    slow = asyncio.ensure_future(pipe.call("GET", f"{redis_prefix}:c"))
    await asyncio.sleep(0)
    slow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await slow
    assert await pipe.call("ECHO", b"after") == b"after"


async def test_script_when_redis_lost_the_script_then_eval_runs_it(pipe: RespPipe) -> None:
    script = pipe.script("return {KEYS[1], ARGV[1], 7}")
    await pipe.call("SCRIPT", "FLUSH")
    assert await script(keys=["a"], args=["b"]) == [b"a", b"b", 7]
    assert await script(keys=["c"], args=[1]) == [b"c", b"1", 7]  # EVALSHA now


async def test_call_when_connection_dropped_then_raises_and_next_call_reconnects(
    pipe: RespPipe, redis_url: str, redis_prefix: str
) -> None:
    admin = aioredis.from_url(redis_url)
    try:
        name = f"{redis_prefix}-pipe"
        await pipe.call("CLIENT", "SETNAME", name)
        pending = asyncio.ensure_future(pipe.call("BLPOP", f"{redis_prefix}:never", 5))
        await asyncio.sleep(0.05)
        await admin.client_kill_filter(_type="normal", skipme=True, laddr=None, user=None)
        with pytest.raises(RedisConnectionError):
            await pending  # fate unknown: an error, never a silent retry
        assert await pipe.call("PING") == b"PONG"
        assert pipe.connects == 2
    finally:
        await admin.aclose()


async def test_call_when_server_unreachable_then_connection_error() -> None:
    pipe = RespPipe(host="127.0.0.1", port=1, connect_timeout=1.0)
    with pytest.raises(RedisConnectionError):
        await pipe.call("PING")


async def test_replay_guard_when_plain_client_then_pipe_shared_by_replicas(
    redis_url: str, redis_prefix: str
) -> None:
    clients = [connect(redis_url), connect(redis_url)]
    a, b = (RedisReplayGuard(c, f"{redis_prefix}:replay") for c in clients)
    try:
        assert await a.first_use("sig", 10_000, 0)
        assert not await b.first_use("sig", 10_000, 0)
        assert await b.first_use("other", 10_000, 0)
    finally:
        for c in clients:
            await c.aclose()  # closes the guard's pipe too


async def test_replay_guard_begin_when_sent_ahead_then_answers_like_first_use(
    redis_url: str, redis_prefix: str
) -> None:
    client = connect(redis_url)
    guard = RedisReplayGuard(client, f"{redis_prefix}:replay")
    try:
        assert await guard.begin("warm", 10_000, 0)  # not connected yet: the plain call
        first = guard.begin("sig", 10_000, 0)  # sent now, answered when awaited
        again = guard.begin("sig", 10_000, 0)
        assert await first
        assert not await again
        assert not await guard.first_use("sig", 10_000, 0)
    finally:
        await client.aclose()


async def test_replay_guard_begin_when_connection_lost_then_guard_full(
    redis_url: str, redis_prefix: str
) -> None:
    client = connect(redis_url)
    guard = RedisReplayGuard(client, f"{redis_prefix}:replay")
    try:
        assert await guard.first_use("warm", 10_000, 0)
        pending = guard.begin("sig", 10_000, 0)
        assert guard._pipe is not None
        guard._pipe.close()  # flushes the SET, then drops the connection before its reply
        with pytest.raises(ReplayGuardFull):
            await pending
    finally:
        await client.aclose()
