"""SIGKILL mid-burst: every acknowledged record is on disk and the chain verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import redis

from margin_gate.audit.reader import Source
from margin_gate.audit.reader import audit_files
from margin_gate.audit.reader import iter_sources
from margin_gate.audit.reader import iter_stream
from margin_gate.audit.verify import verify
from tests.support.servers import REPO

CHILD = Path(__file__).with_name("crash_child.py")
TOTAL = 1_000_000  # never reached: the parent kills the child long before


def _run_and_kill(directory: Path, kill_after: int, *stream_args: str) -> set[int]:
    """Start the writer, SIGKILL it after `kill_after` acks; return every seq it acked."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), str(TOTAL), *stream_args],
        stdout=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline() == b"ready\n"
        acked: set[int] = set()
        while len(acked) < kill_after:
            line = proc.stdout.readline()
            assert line, "writer exited before the kill"
            acked.add(int(line))
        assert proc.poll() is None, "writer finished: not a mid-burst kill"
        proc.send_signal(signal.SIGKILL)
        acked.update(int(line) for line in proc.stdout.read().split())  # acks still in the pipe
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return acked


def _on_disk(directory: Path) -> set[int]:
    """seqs of the complete lines (a torn last line has no newline and is not counted)."""
    return {
        orjson.loads(line)["seq"]
        for path in audit_files(directory)
        for line in path.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    }


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 97, 1_500, 6_000, 20_000])
def test_sigkill_mid_burst_loses_no_acknowledged_record(tmp_path, kill_after):
    acked = _run_and_kill(tmp_path, kill_after)
    assert len(acked) >= kill_after
    on_disk = _on_disk(tmp_path)
    assert acked <= on_disk
    assert max(on_disk) - max(acked) <= 1  # at most the record written as the kill landed
    report = verify(iter_sources([Source(path=tmp_path)]))
    assert report.ok, report.problems
    assert report.records == len(on_disk)
    # SIGKILL can cut a write that spans a page boundary (the kernel checks for a fatal signal
    # between pages): the record being written, never an acknowledged one, may be torn.
    last_file = audit_files(tmp_path)[-1]
    torn = [w for w in report.warnings if w.kind == "torn tail"]
    assert len(torn) == len(report.warnings) <= 1
    assert all(w.where.startswith(f"{last_file}:") for w in torn)
    (writer,) = report.writers.values()
    assert not writer.closed  # it never got to write its close event
    if kill_after > 1_000:
        assert len(audit_files(tmp_path)) > 1  # the kill came after rotations


@pytest.mark.slow
@pytest.mark.redis
def test_sigkill_with_the_stream_sink_keeps_file_complete_and_stream_a_clean_prefix(
    tmp_path, redis_url, redis_prefix
):
    stream = f"{redis_prefix}:audit"
    acked = _run_and_kill(tmp_path, 5_000, redis_url, stream)
    assert acked <= _on_disk(tmp_path)
    assert verify(iter_sources([Source(path=tmp_path)])).ok
    # The stream holds what was delivered before the kill: a chain prefix, no holes.
    streamed = list(iter_stream(redis_url, stream))
    assert streamed
    seqs = [orjson.loads(e.raw)["seq"] for e in streamed]
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify(streamed).ok
    client = redis.Redis.from_url(redis_url)
    client.delete(stream)
    client.close()
