"""`audit verify`: each kind of tampering is named at the right line; torn tails are not."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from margin_gate.audit.chain import canonical
from margin_gate.audit.reader import Entry
from margin_gate.audit.reader import Source
from margin_gate.audit.reader import audit_files
from margin_gate.audit.reader import iter_file
from margin_gate.audit.reader import iter_sources
from margin_gate.audit.verify import format_report
from margin_gate.audit.verify import verify
from margin_gate.cli import main
from tests.unit.audit.builders import lines_of
from tests.unit.audit.builders import only_file
from tests.unit.audit.builders import write_log

# A log of 10 decisions is 12 lines: line N holds seq N (1 = open event, 12 = close event).
N = 10


@pytest.fixture
async def log_file(tmp_path):
    await write_log(tmp_path, N)
    return only_file(tmp_path)


def _check(path, **kw):
    return verify(iter_sources([Source(path=path)]), **kw)


def _first(path, **kw):
    report = _check(path, **kw)
    assert report.first is not None, format_report(report)
    return report, report.first


def test_an_untouched_log_verifies(log_file):
    report = _check(log_file)
    assert report.ok
    assert report.records == N + 2
    assert not report.warnings


def test_an_edited_line_is_named(log_file):
    lines = lines_of(log_file)
    lines[4] = lines[4].replace(b'"decision":"accept"', b'"decision":"reject"')
    log_file.write_bytes(b"".join(lines))
    report, first = _first(log_file)
    assert (first.kind, first.where) == ("edited", f"{log_file}:5")
    assert "seq 5" in first.detail
    assert len(report.problems) == 1  # the chain after it still links


def test_a_deleted_line_is_named(log_file):
    lines = lines_of(log_file)
    del lines[4]
    log_file.write_bytes(b"".join(lines))
    report, first = _first(log_file)
    assert (first.kind, first.where) == ("removed", f"{log_file}:5")
    assert "seq 5 " in first.detail
    assert len(report.problems) == 1


def test_swapped_lines_are_named(log_file):
    lines = lines_of(log_file)
    lines[4], lines[5] = lines[5], lines[4]
    log_file.write_bytes(b"".join(lines))
    report, first = _first(log_file)
    assert (first.kind, first.where) == ("reordered", f"{log_file}:5")
    assert f"{log_file}:6" in first.detail
    assert len(report.problems) == 1


def test_a_copied_line_is_named(log_file):
    lines = lines_of(log_file)
    lines.insert(7, lines[3])
    log_file.write_bytes(b"".join(lines))
    report, first = _first(log_file)
    assert (first.kind, first.where) == ("inserted", f"{log_file}:8")
    assert len(report.problems) == 1


def _forge(after: bytes, **changes: object) -> bytes:
    """A record that claims to follow `after`, with a correctly recomputed hash."""
    prev = orjson.loads(after)
    rec = {**prev, **changes, "seq": prev["seq"] + 1, "prev": prev["hash"]}
    rec.pop("hash")
    rec["hash"] = hashlib.sha256(canonical(rec)).hexdigest()
    return orjson.dumps(rec) + b"\n"


def test_a_forged_insertion_with_a_valid_hash_is_named(log_file):
    lines = lines_of(log_file)
    lines.insert(5, _forge(lines[4], request_id="forged", decision="accept"))
    log_file.write_bytes(b"".join(lines))
    report, first = _first(log_file)
    assert (first.kind, first.where) == ("inserted", f"{log_file}:6")
    assert len(report.problems) == 1


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(log_file):
    lines = lines_of(log_file)
    lines[4] = _forge(lines[3], request_id="rewritten")
    log_file.write_bytes(b"".join(lines))
    _report, first = _first(log_file)
    assert (first.kind, first.where) == ("inserted", f"{log_file}:6")
    assert f"{log_file}:5" in first.detail  # "...or that one replaced"


def test_a_torn_tail_is_a_warning_and_everything_before_it_verifies(log_file):
    data = log_file.read_bytes()
    log_file.write_bytes(data[: -len(lines_of(log_file)[-1]) // 2])  # crash mid-write
    report = _check(log_file)
    assert report.ok, report.problems
    assert report.records == N + 1
    (warning,) = report.warnings
    assert (warning.kind, warning.where) == ("torn tail", f"{log_file}:12")
    (writer,) = report.writers.values()
    assert not writer.closed


def test_a_broken_line_in_the_middle_is_not_a_torn_tail(log_file):
    lines = lines_of(log_file)
    lines[3] = lines[3][:40] + b"\n"
    log_file.write_bytes(b"".join(lines))
    _report, first = _first(log_file)
    assert (first.kind, first.where) == ("edited", f"{log_file}:4")


def test_a_reordered_line_that_moved_far_is_named_where_order_breaks(log_file):
    lines = lines_of(log_file)
    moved = lines.pop(2)
    lines.insert(9, moved)
    log_file.write_bytes(b"".join(lines))
    _report, first = _first(log_file)
    assert (first.kind, first.where) == ("reordered", f"{log_file}:3")
    assert "seq 3 " in first.detail or "seq 3 (" in first.detail


async def _rotated(tmp_path):
    await write_log(tmp_path, 40, max_bytes=4096)
    files = audit_files(tmp_path)
    assert len(files) >= 4
    return files


async def test_a_deleted_rotated_file_is_named(tmp_path):
    files = await _rotated(tmp_path)
    files[1].unlink()
    _report, first = _first(tmp_path)
    assert (first.kind, first.where) == ("removed", f"{files[2]}:1")


async def test_pruned_old_files_need_partial(tmp_path):
    files = await _rotated(tmp_path)
    files[0].unlink()
    _, first = _first(tmp_path)
    assert (first.kind, first.where) == ("removed", f"{files[1]}:1")
    report = _check(tmp_path, allow_partial_head=True)
    assert report.ok
    assert [w.kind for w in report.warnings] == ["partial head"]


async def test_swapped_file_names_are_reordered(tmp_path):
    files = await _rotated(tmp_path)
    a, b = files[1], files[2]
    tmp = a.with_suffix(".tmp")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    _, first = _first(tmp_path)
    assert (first.kind, first.where) == ("reordered", f"{a}:1")


async def test_interleaved_writers_verify_per_writer(tmp_path):
    await write_log(tmp_path / "a", 5)
    await write_log(tmp_path / "b", 5)
    a = list(iter_file(only_file(tmp_path / "a")))
    b = list(iter_file(only_file(tmp_path / "b")))
    mixed = [e for pair in zip(a, b, strict=True) for e in pair]
    assert verify(mixed).ok
    assert len(verify(mixed).writers) == 2
    assert not verify([*a[:3], *b, *a[3:]]).problems


async def test_stream_duplicates_are_warnings_only_when_allowed(tmp_path):
    await write_log(tmp_path, 5)
    entries = list(iter_file(only_file(tmp_path)))
    redelivered = [*entries[:4], *entries[2:4], *entries[4:]]  # a batch sent twice
    assert verify(redelivered, allow_duplicates=True).ok
    assert [w.kind for w in verify(redelivered, allow_duplicates=True).warnings] == [
        "duplicate",
        "duplicate",
    ]
    assert verify(redelivered).first is not None
    assert verify(redelivered).first.kind == "inserted"


def test_a_line_that_is_not_a_record_is_edited():
    entries = [Entry("mem:1", b'{"kind":"event"}', False, "mem", 1)]
    report = verify(entries)
    assert report.first is not None
    assert (report.first.kind, report.first.where) == ("edited", "mem:1")


def test_cli_verify_exit_codes_and_first_problem(log_file, capsys):
    assert main(["audit", "verify", str(log_file)]) == 0
    assert "OK: 12 records" in capsys.readouterr().out
    lines = lines_of(log_file)
    lines[6] = lines[6].replace(b"bot1", b"bot2")
    log_file.write_bytes(b"".join(lines))
    assert main(["audit", "verify", "--path", str(log_file.parent)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL: first problem: edited at {log_file}:7" in out


def test_cli_verify_strict_fails_a_torn_tail(log_file, capsys):
    log_file.write_bytes(log_file.read_bytes()[:-10])
    assert main(["audit", "verify", str(log_file)]) == 0
    assert "torn tail" in capsys.readouterr().out
    assert main(["audit", "verify", "--strict", str(log_file)]) == 1


def test_cli_verify_missing_path_is_a_usage_error(tmp_path, capsys):
    assert main(["audit", "verify", str(tmp_path / "nope")]) == 2
    assert "no such audit file" in capsys.readouterr().err


def test_cli_verify_fails_when_the_path_holds_no_records(tmp_path, capsys):
    # An empty directory proves nothing: "OK" there would hide a mistyped path.
    assert main(["audit", "verify", "--path", str(tmp_path)]) == 1
    assert "no audit records found" in capsys.readouterr().err
