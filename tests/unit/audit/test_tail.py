"""`audit tail`: the backlog, then new lines across rotation, through the filters."""

from __future__ import annotations

import threading
import time

import orjson

from margin_gate.audit import AuditLog
from margin_gate.audit.tail import brief
from margin_gate.audit.tail import follow_files
from margin_gate.cli import main
from tests.unit.audit.builders import decision
from tests.unit.audit.builders import file_config
from tests.unit.audit.builders import outcome


def _bot1(line: bytes) -> bool:
    return orjson.loads(line).get("bot") == "bot1"


def _until(deadline_s: float):
    end = time.monotonic() + deadline_s
    return lambda: time.monotonic() > end


async def test_follow_prints_backlog_then_new_lines_across_rotation(tmp_path):
    log = AuditLog(file_config(tmp_path, max_bytes=2500))
    await log.start()
    for i in range(4):
        log.write(decision(i, bot="bot1" if i % 2 else "bot2"))
    lines = follow_files(tmp_path, _bot1, backlog=1, poll=0.01, stop=_until(5))
    assert orjson.loads(next(lines))["request_id"] == "req-3"  # last bot1 line only
    opened = log.files_opened
    for i in range(4, 12):
        log.write(decision(i, bot="bot1" if i % 2 else "bot2"))
    assert log.files_opened > opened  # rotated meanwhile
    got = [orjson.loads(next(lines))["request_id"] for _ in range(4)]
    assert got == ["req-5", "req-7", "req-9", "req-11"]
    await log.close()


async def test_follow_waits_for_a_whole_line(tmp_path):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    path = log._file.path
    assert path is not None
    lines = follow_files(tmp_path, lambda _: True, backlog=0, poll=0.01, stop=_until(5))
    half = b'{"kind":"event","bot":"bot1"'
    with path.open("ab") as f:
        f.write(half)

    def rest() -> None:
        with path.open("ab") as f:
            f.write(b',"msg":"x"}\n')

    timer = threading.Timer(0.2, rest)
    timer.start()
    assert next(lines) == half + b',"msg":"x"}'
    timer.join()
    await log.close()


def test_brief_is_one_readable_line():
    rec = outcome(7, exchange_status=400, exchange_code=-2019, msg="Margin is insufficient.")
    rec.update({"ts": "2023-11-14T22:13:20.123Z", "seq": 9})
    text = brief(orjson.dumps(rec))
    assert text.startswith("2023-11-14T22:13:20.123Z outcome  accept bot=bot1 account=acct1")
    assert "exchange_status=400" in text
    assert "msg=Margin is insufficient." in text
    assert text.endswith("seq=9")


async def test_cli_tail_no_follow_filters(tmp_path, capsysbinary):
    log = AuditLog(file_config(tmp_path))
    await log.start()
    log.write(decision(1, bot="bot1", decision="reject"))
    log.write(decision(2, bot="bot2", decision="reject"))
    log.write(decision(3, bot="bot1", decision="accept"))
    await log.close()
    args = ["audit", "tail", str(tmp_path), "--no-follow", "--bot", "bot1", "--decision", "reject"]
    assert main(args) == 0
    out = capsysbinary.readouterr().out.splitlines()
    assert [orjson.loads(line)["request_id"] for line in out] == ["req-1"]
