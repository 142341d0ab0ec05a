"""`margin-gate audit ...` as a real process: tail -f with filters, verify, export."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time

import orjson

from margin_gate.audit import AuditLog
from tests.support.servers import REPO
from tests.unit.audit.builders import decision
from tests.unit.audit.builders import file_config
from tests.unit.audit.builders import lines_of
from tests.unit.audit.builders import only_file
from tests.unit.audit.builders import write_log


def _cli(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "margin_gate", "audit", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
        **kw,
    )


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "margin_gate", "audit", *args, "--poll", "0.05", "-n", "5"],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )


class _Lines:
    """Lines a process prints, read on a thread so the test can wait with a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue()
        assert proc.stdout is not None
        self._stdout = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self._queue.put(line)

    def close(self) -> None:
        """After the process exited: the reader sees EOF, then the pipe is closed."""
        self._thread.join(timeout=10)
        self._stdout.close()

    def take(self, n: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            out.append(self._queue.get(timeout=max(0.01, deadline - time.monotonic())))
        return out

    def empty_for(self, seconds: float) -> bool:
        try:
            self._queue.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


async def test_tail_follows_rotation_with_filters(tmp_path):
    log = AuditLog(file_config(tmp_path, max_bytes=3000))
    await log.start()
    log.write(decision(0, bot="bot1", decision="reject"))  # backlog
    proc = _spawn("tail", "--path", str(tmp_path), "--bot", "bot1", "--decision", "reject")
    lines = _Lines(proc)
    try:
        assert orjson.loads(lines.take(1)[0])["request_id"] == "req-0"
        for i in range(1, 13):
            bot = "bot1" if i % 2 else "bot2"
            log.write(decision(i, bot=bot, decision="reject" if i % 3 else "accept"))
        assert log.files_opened > 1
        got = [orjson.loads(x)["request_id"] for x in lines.take(4)]
        assert got == ["req-1", "req-5", "req-7", "req-11"]  # bot1 and reject only
        assert lines.empty_for(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        lines.close()
        await log.close()
    assert proc.returncode == 0


async def test_verify_process_exit_codes_name_the_line(tmp_path):
    await write_log(tmp_path, 8)
    path = only_file(tmp_path)
    ok = _cli("verify", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert "OK: 10 records, 1 writers" in ok.stdout
    lines = lines_of(path)
    del lines[3]
    path.write_bytes(b"".join(lines))
    bad = _cli("verify", str(path))
    assert bad.returncode == 1
    assert f"FAIL: first problem: removed at {path}:4: seq 4 of writer" in bad.stdout


async def test_export_process_writes_csv_to_stdout(tmp_path):
    await write_log(tmp_path, 3)
    done = _cli("export", str(tmp_path), "--format", "csv", "--kind", "decision")
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert rows[0].startswith("ts,ts_ms,kind,request_id,")
    assert len(rows) == 4
    assert "exported 3 records" in done.stderr


def test_help_lists_the_audit_commands():
    # The CLI imports nothing heavy until a command runs (cli/__init__.py).
    done = _cli("--help")
    assert done.returncode == 0
    assert all(cmd in done.stdout for cmd in ("tail", "export", "verify"))
