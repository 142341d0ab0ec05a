"""AuditLog with the JSONL file sink: synchronous appends, redaction, rotation, lifecycle."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import orjson
import pytest

from margin_gate.audit import AuditClosedError
from margin_gate.audit import AuditConfig
from margin_gate.audit import AuditLog
from margin_gate.audit.reader import Source
from margin_gate.audit.reader import audit_files
from margin_gate.audit.reader import iter_sources
from margin_gate.audit.record import CLOSED_MSG
from margin_gate.audit.record import OPENED_MSG
from margin_gate.audit.verify import verify
from margin_gate.clock import ManualClock
from tests.support.waiting import eventually_async
from tests.unit.audit.builders import SECRET_LISTEN_KEY
from tests.unit.audit.builders import SECRET_SIGNATURE
from tests.unit.audit.builders import decision
from tests.unit.audit.builders import file_config
from tests.unit.audit.builders import only_file
from tests.unit.audit.builders import order_params
from tests.unit.audit.builders import outcome
from tests.unit.audit.builders import records
from tests.unit.audit.builders import write_log


def _verify_dir(directory):
    return verify(iter_sources([Source(path=directory)]))


async def test_write_is_on_disk_when_it_returns(tmp_path):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    rec = decision(1)
    log.write(rec)
    # Read through a separate descriptor right away: no flush, no await in between.
    last = only_file(tmp_path).read_bytes().splitlines()[-1]
    assert orjson.loads(last)["hash"] == rec["hash"]
    assert (rec["seq"], log.seq, log.written) == (2, 2, 2)  # seq 1 is the open event
    await log.close()


async def test_open_and_close_events_bracket_the_chain(tmp_path):
    await write_log(tmp_path, 3)
    recs = records(tmp_path)
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    assert (recs[0]["kind"], recs[0]["msg"]) == ("event", OPENED_MSG)
    assert (recs[-1]["kind"], recs[-1]["msg"]) == ("event", CLOSED_MSG)
    assert recs[0]["params"]["sinks"] == "file"
    report = _verify_dir(tmp_path)
    assert report.ok
    (summary,) = report.writers.values()
    assert summary.closed


async def test_write_fills_time_replica_and_chain_fields(tmp_path):
    clock = ManualClock(now_ms=1_700_000_000_123)
    log = AuditLog(file_config(tmp_path, replica="eu-1"), clock=clock)
    await log.start()
    rec = decision(1)
    log.write(rec)
    assert rec["ts_ms"] == 1_700_000_000_123
    assert rec["ts"] == "2023-11-14T22:13:20.123Z"
    assert rec["replica"] == "eu-1"
    assert rec["writer"] == log.writer
    assert rec["writer"].startswith("eu-1.")
    explicit = decision(2, ts_ms=1_600_000_000_000)
    log.write(explicit)
    assert explicit["ts"] == "2020-09-13T12:26:40.000Z"
    await log.close()


async def test_no_signature_or_secret_reaches_the_file(tmp_path):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    log.write(decision(1, params=order_params(apiKey="k3y", listenKey=SECRET_LISTEN_KEY)))
    log.write(outcome(1, params=[("symbol", "BTCUSDT"), ("signature", SECRET_SIGNATURE)]))
    log.write(decision(2, decision="reject", rule="auth", code=-1022, msg="Signature invalid."))
    await log.close()
    raw = only_file(tmp_path).read_bytes()
    for secret in (SECRET_SIGNATURE, SECRET_LISTEN_KEY, b"k3y"):
        assert (secret.encode() if isinstance(secret, str) else secret) not in raw
    recs = records(tmp_path)
    assert all("signature" not in r.get("params", {}) for r in recs)
    assert recs[1]["params"]["symbol"] == "BTCUSDT"


async def test_size_rotation_keeps_the_chain_across_files(tmp_path):
    log = AuditLog(file_config(tmp_path, max_bytes=4096))
    await log.start()
    for i in range(40):
        log.write(decision(i))
    await log.close()
    files = audit_files(tmp_path)
    assert len(files) == log.files_opened > 3
    assert [p.name for p in files] == sorted(p.name for p in files)
    assert all(p.stat().st_size <= 4096 for p in files)
    for before, after in itertools.pairwise(files):
        last = orjson.loads(before.read_bytes().splitlines()[-1])
        first = orjson.loads(after.read_bytes().splitlines()[0])
        assert first["prev"] == last["hash"]
        assert first["seq"] == last["seq"] + 1
    assert _verify_dir(tmp_path).ok


async def test_time_rotation_on_utc_boundaries(tmp_path):
    clock = ManualClock(now_ms=1_700_000_000_000)  # 22:13:20 UTC
    log = AuditLog(file_config(tmp_path, rotate_interval_s=3600), clock=clock)
    await log.start()
    log.write(decision(1))
    clock.advance(1000)  # 22:30: same hour, same file
    log.write(decision(2))
    assert log.files_opened == 1
    clock.advance(1800)  # 23:00:00 passed
    log.write(decision(3))
    assert log.files_opened == 2
    await log.close()
    _first, second = audit_files(tmp_path)
    second_ids = [orjson.loads(line).get("request_id") for line in second.read_bytes().splitlines()]
    assert second_ids == ["req-3", None]  # then the close event
    assert _verify_dir(tmp_path).ok


async def test_group_commit_fsyncs_in_the_background(tmp_path):
    log = AuditLog(file_config(tmp_path, fsync_interval_ms=5))
    await log.start()
    log.write(decision(1))
    await eventually_async(lambda: log.fsyncs >= 1, timeout=2)
    await log.close()
    assert log.errors == 0


async def test_fsync_inside_write_when_interval_is_zero(tmp_path):
    log = AuditLog(file_config(tmp_path, fsync_interval_ms=0))
    await log.start()
    log.write(decision(1))
    await log.close()
    assert _verify_dir(tmp_path).ok


async def test_write_outside_start_and_close_raises(tmp_path):
    log = AuditLog(file_config(tmp_path))
    with pytest.raises(AuditClosedError):
        log.write(decision(0))
    await log.start()
    with pytest.raises(RuntimeError, match="twice"):
        await log.start()
    await log.close()
    await log.close()  # idempotent
    with pytest.raises(AuditClosedError):
        log.write(decision(1))


async def test_an_unserializable_value_raises_and_leaves_the_chain_alone(tmp_path):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    with pytest.raises(TypeError):
        log.write(decision(1, msg=object()))
    log.write(decision(2))
    await log.close()
    assert [r["seq"] for r in records(tmp_path)] == [1, 2, 3]
    assert _verify_dir(tmp_path).ok


async def test_write_all_stores_records_together_in_chain_order(tmp_path):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    first, second = decision(1), outcome(1)
    log.write_all([first, second])
    # Both on disk when it returns, sealed in order, one after the other.
    lines = only_file(tmp_path).read_bytes().splitlines()
    assert [orjson.loads(line)["hash"] for line in lines[-2:]] == [first["hash"], second["hash"]]
    assert (first["seq"], second["seq"], second["prev"]) == (2, 3, first["hash"])
    assert (log.seq, log.written) == (3, 3)
    log.write_all([])
    await log.close()
    assert _verify_dir(tmp_path).ok


async def test_write_all_with_an_unserializable_value_writes_none_of_them(tmp_path):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    with pytest.raises(TypeError):
        log.write_all([decision(1), outcome(1, msg=object())])
    log.write(decision(2))
    await log.close()
    assert [r["seq"] for r in records(tmp_path)] == [1, 2, 3]
    assert _verify_dir(tmp_path).ok
    with pytest.raises(AuditClosedError):
        log.write_all([decision(3)])


async def test_two_processes_write_separate_files_and_chains(tmp_path):
    a = await write_log(tmp_path, 2)
    b = await write_log(tmp_path, 2)
    assert a.writer != b.writer
    assert len(audit_files(tmp_path)) == 2
    report = _verify_dir(tmp_path)
    assert report.ok
    assert set(report.writers) == {a.writer, b.writer}


def test_config_refuses_nonsense(tmp_path):
    with pytest.raises(ValueError, match="sink"):
        AuditConfig(replica="r1")
    with pytest.raises(ValueError, match="policy"):
        AuditConfig(replica="r1", dir=tmp_path, policy="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queue_max"):
        AuditConfig(replica="r1", dir=tmp_path, queue_max=0)
    with pytest.raises(ValueError, match="redis"):
        AuditLog(AuditConfig(replica="r1", dir=tmp_path, stream="s"))


_DISK_FULL_CHILD = textwrap.dedent(
    """
    import asyncio, resource, signal, sys
    from pathlib import Path
    from margin_gate.audit import AuditLog, AuditWriteError
    from tests.unit.audit.builders import decision, file_config

    async def main():
        log = AuditLog(file_config(Path(sys.argv[1])))
        await log.start()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, hard))
        ok = failed = 0
        for i in range(100):
            try:
                log.write(decision(i))
                ok += 1
            except AuditWriteError:
                failed += 1
                assert not log.accepting_risk()
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the disk has room again
        log.write(decision(1000))
        assert log.accepting_risk()
        await log.close()
        print(ok, failed, log.write_errors)

    asyncio.run(main())
    """
)


def test_a_failed_append_raises_refuses_risk_and_leaves_no_partial_line(tmp_path):
    # A real EFBIG from RLIMIT_FSIZE in a child process, not a mock.
    result = subprocess.run(
        [sys.executable, "-c", _DISK_FULL_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=os.getcwd(),
    )
    assert result.returncode == 0, result.stderr
    ok, failed, errors = map(int, result.stdout.split())
    assert ok > 0
    assert failed == errors > 0
    report = _verify_dir(tmp_path)
    assert report.ok, report.problems
    assert not report.warnings  # no torn line: the partial write was cut back
    assert report.records == ok + 3  # open, the ok ones, the one after recovery, close
