"""The Redis stream sink against a real Redis: delivery, replicas, outages, refuse and spill."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from margin_gate.audit import AuditLog
from margin_gate.audit.reader import Source
from margin_gate.audit.reader import audit_files
from margin_gate.audit.reader import iter_sources
from margin_gate.audit.reader import iter_stream
from margin_gate.audit.tail import follow_stream
from margin_gate.audit.verify import verify
from margin_gate.cli import main
from tests.integration.audit.redis_server import RedisServer
from tests.support.servers import free_port
from tests.support.waiting import eventually_async
from tests.unit.audit.builders import decision
from tests.unit.audit.builders import file_config
from tests.unit.audit.builders import outcome

pytestmark = pytest.mark.redis


def _file_lines(directory: Path) -> list[bytes]:
    return [line for p in audit_files(directory) for line in p.read_bytes().splitlines()]


def _writer_lines(directory: Path, writer: str) -> list[bytes]:
    return [line for line in _file_lines(directory) if f'"writer":"{writer}"'.encode() in line]


def _stream_lines(url: str, stream: str) -> list[bytes]:
    return [e.raw for e in iter_stream(url, stream)]


def _verify_stream(url: str, stream: str):
    src = Source(redis_url=url, stream=stream)
    return verify(iter_sources([src]), allow_partial_head=True, allow_duplicates=True)


@pytest.fixture
async def client(redis_url, redis_prefix):
    c = Redis.from_url(redis_url)
    yield c
    keys = [k async for k in c.scan_iter(match=f"{redis_prefix}*")]
    if keys:
        await c.delete(*keys)
    await c.aclose()


async def _burst(log: AuditLog, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        log.write(decision(i))
        log.write(outcome(i))
        if i % 25 == 0:
            await asyncio.sleep(0)  # let the drain task run, as a busy gateway would


async def test_file_and_stream_hold_the_same_records(tmp_path, redis_url, redis_prefix, client):
    stream = f"{redis_prefix}:audit"
    log = AuditLog(file_config(tmp_path, stream=stream, batch_max=64), redis=client)
    await log.start()
    await _burst(log, 300)
    await log.close()
    assert _stream_lines(redis_url, stream) == _file_lines(tmp_path)
    assert log.streamed == 602
    assert (log.spilled, log.queue_depth, log.errors) == (0, 0, 0)
    report = _verify_stream(redis_url, stream)
    assert report.ok
    assert not report.warnings
    assert main(["audit", "verify", redis_url, "--stream", stream]) == 0


async def test_replicas_interleave_in_one_stream_and_verify_per_writer(
    tmp_path, redis_url, redis_prefix, client
):
    stream = f"{redis_prefix}:audit"
    logs = [
        AuditLog(file_config(tmp_path / r, replica=r, stream=stream), redis=client)
        for r in ("r1", "r2", "r3")
    ]
    for log in logs:
        await log.start()
    for i in range(100):
        for log in logs:
            log.write(decision(i))
        await asyncio.sleep(0)
    for log in logs:
        await log.close()
    report = _verify_stream(redis_url, stream)
    assert report.ok
    assert {w.writer for w in report.writers.values()} == {log.writer for log in logs}
    assert all(w.records == 102 and w.closed for w in report.writers.values())


def _unreachable_config(tmp_path: Path, server: RedisServer, **kw):
    settings = {
        "stream": "audit",
        "redis_timeout_s": 0.5,
        "heartbeat_s": 0.05,
        "batch_max": 16,
        **kw,
    }
    return file_config(tmp_path / "audit", **settings)


def _client(server: RedisServer) -> Redis:
    return Redis.from_url(server.url, socket_connect_timeout=0.2)


async def test_refuse_policy_refuses_risk_while_the_stream_is_down(tmp_path):
    server = RedisServer(tmp_path / "redis")  # nothing listens on its port yet
    client = _client(server)
    log = AuditLog(_unreachable_config(tmp_path, server, policy="refuse"), redis=client)
    try:
        await log.start()
        assert log.stream_up is False
        assert not log.accepting_risk()
        await _burst(log, 10)  # rejections and reduce-only orders are still recorded
        assert log.queue_depth > 0
        server.start()
        await eventually_async(lambda: log.accepting_risk() and log.queue_depth == 0, timeout=15)
        assert log.stream_up
        await log.close()
        assert _stream_lines(server.url, "audit") == _file_lines(tmp_path / "audit")
        assert _verify_stream(server.url, "audit").ok
    finally:
        await client.aclose()
        server.stop()


async def test_refuse_policy_refuses_when_the_queue_is_full(tmp_path):
    server = RedisServer(tmp_path / "redis")
    client = _client(server)
    config = _unreachable_config(tmp_path, server, policy="refuse", queue_max=8)
    log = AuditLog(config, redis=client)
    try:
        await log.start()
        await _burst(log, 10)
        assert log.spilling  # overflow is kept on disk, never dropped
        assert log.spilled > 0
        assert not log.accepting_risk()
        server.start()
        await eventually_async(lambda: log.accepting_risk(), timeout=15)
        await log.close()
        assert _stream_lines(server.url, "audit") == _file_lines(tmp_path / "audit")
    finally:
        await client.aclose()
        server.stop()


async def test_spill_policy_spills_then_replays_with_the_chain_intact(tmp_path):
    server = RedisServer(tmp_path / "redis")
    client = _client(server)
    config = _unreachable_config(tmp_path, server, policy="spill", queue_max=8)
    log = AuditLog(config, redis=client)
    spill = config.spill_file
    assert spill is not None
    try:
        await log.start()
        await _burst(log, 50)
        assert log.accepting_risk()  # spill policy: keep trading
        assert log.spilling
        assert log.spilled == 101 - 8  # open + 100 records, 8 held in memory
        assert spill.stat().st_size > 0
        server.start()
        await eventually_async(lambda: not log.spilling and log.queue_depth == 0, timeout=15)
        assert log.replayed == log.spilled
        assert spill.stat().st_size == 0  # emptied once replayed
        await _burst(log, 5, start=50)  # back to the queue
        await log.close()
        stream = _stream_lines(server.url, "audit")
        assert stream == _file_lines(tmp_path / "audit")  # same records, same order
        report = _verify_stream(server.url, "audit")
        assert report.ok
        assert not report.warnings
    finally:
        await client.aclose()
        server.stop()


async def test_records_left_at_shutdown_are_replayed_by_the_next_process(tmp_path):
    server = RedisServer(tmp_path / "redis")
    config = _unreachable_config(tmp_path, server, policy="spill", queue_max=8)
    first_client = _client(server)
    first = AuditLog(config, redis=first_client)
    await first.start()
    await _burst(first, 10)  # 8 in memory, the rest spilled
    await first.close(timeout=0.3)  # stream still down: the queue goes to the spill file
    await first_client.aclose()
    spill = config.spill_file
    assert spill is not None
    assert len(spill.read_bytes().splitlines()) == 22  # open + 20 + close, queue first
    server.start()
    second_client = _client(server)
    try:
        second = AuditLog(config, redis=second_client)
        await second.start()
        await _burst(second, 3)
        await second.close()
        stream = _stream_lines(server.url, "audit")
        files = [_writer_lines(tmp_path / "audit", log.writer) for log in (first, second)]
        assert stream == files[0] + files[1]  # the first process's records, then the second's
        report = _verify_stream(server.url, "audit")
        assert report.ok
        assert [w.records for w in report.writers.values()] == [22, 8]
    finally:
        await second_client.aclose()
        server.stop()


async def test_a_hung_redis_times_out_refuses_and_recovers(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    client = _client(server)
    config = _unreachable_config(tmp_path, server, policy="refuse", redis_timeout_s=0.3)
    log = AuditLog(config, redis=client)
    try:
        await log.start()
        await _burst(log, 5)
        await eventually_async(lambda: log.queue_depth == 0, timeout=5)
        assert log.accepting_risk()
        server.pause()  # SIGSTOP: connections stay open, nothing answers
        await _burst(log, 5, start=5)
        await eventually_async(lambda: not log.accepting_risk(), timeout=5)
        server.resume()
        await eventually_async(lambda: log.accepting_risk() and log.queue_depth == 0, timeout=15)
        await log.close()
        # A batch that timed out may have been applied too: duplicates, never gaps.
        stream = _stream_lines(server.url, "audit")
        assert set(stream) == set(_file_lines(tmp_path / "audit"))
        assert _verify_stream(server.url, "audit").ok
    finally:
        await client.aclose()
        server.stop()


def test_cli_verify_reports_an_unreachable_redis(capsys):
    code = main(["audit", "verify", f"redis://127.0.0.1:{free_port()}/0", "--stream", "x"])
    assert code == 2
    assert "redis" in capsys.readouterr().err.lower()


async def test_tail_follows_a_stream_with_filters(tmp_path, redis_url, redis_prefix, client):
    stream = f"{redis_prefix}:audit"
    log = AuditLog(file_config(tmp_path, stream=stream, stream_linger_ms=0), redis=client)
    await log.start()
    log.write(decision(0, bot="bot1"))
    log.write(decision(1, bot="bot2"))
    await eventually_async(lambda: log.queue_depth == 0 and log.streamed == 3)

    def bot1(line: bytes) -> bool:
        return orjson.loads(line).get("bot") == "bot1"

    deadline = time.monotonic() + 5
    lines = follow_stream(
        redis_url, stream, bot1, backlog=5, poll=0.05, stop=lambda: time.monotonic() > deadline
    )
    assert orjson.loads(next(lines))["request_id"] == "req-0"  # backlog
    log.write(decision(2, bot="bot2"))
    log.write(decision(3, bot="bot1"))
    await eventually_async(lambda: log.queue_depth == 0 and log.streamed == 5)
    assert orjson.loads(next(lines))["request_id"] == "req-3"
    lines.close()
    await log.close()


def test_a_redis_source_needs_a_stream_name():
    with pytest.raises(ValueError, match="--stream"):
        Source.parse("redis://127.0.0.1:6379/0", None)
    assert Source.parse("redis://h:1/0", "s") == Source(redis_url="redis://h:1/0", stream="s")
    assert Source.parse("var/audit", None) == Source(path=Path("var/audit"))
