"""`audit export`: time ranges and filters, JSONL byte-for-byte and CSV by schema column."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from margin_gate.audit import AuditLog
from margin_gate.audit.export import Filters
from margin_gate.audit.export import export_csv
from margin_gate.audit.export import export_jsonl
from margin_gate.audit.export import parse_time
from margin_gate.audit.export import select
from margin_gate.audit.reader import Entry
from margin_gate.audit.reader import Source
from margin_gate.audit.reader import iter_sources
from margin_gate.audit.record import FIELDS
from margin_gate.audit.verify import verify
from margin_gate.cli import main
from margin_gate.clock import ManualClock
from tests.unit.audit.builders import decision
from tests.unit.audit.builders import file_config
from tests.unit.audit.builders import outcome

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
MINUTE = 60_000


@pytest.fixture
async def minutes(tmp_path):
    """One decision + one outcome per minute for 10 minutes, alternating bots."""
    clock = ManualClock(now_ms=T0)
    log = AuditLog(file_config(tmp_path, max_bytes=3000), clock=clock)
    await log.start()
    for i in range(10):
        bot = "bot1" if i % 2 == 0 else "bot2"
        verdict = "reject" if i == 3 else "accept"
        log.write(decision(i, bot=bot, decision=verdict))
        log.write(outcome(i, bot=bot, decision=verdict))
        clock.advance(60)
    await log.close()
    return tmp_path


def _selected(directory, filters):
    return select(iter_sources([Source(path=directory)]), filters)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1700000000000", T0),
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14T22:13:20.5", T0 + 500),
        ("2023-11-15T00:13:20+02:00", T0),
        ("2023-11-14", T0 - (22 * 3600 + 13 * 60 + 20) * 1000),
    ],
)
def test_parse_time(text, ms):
    assert parse_time(text) == ms


def test_parse_time_rejects_garbage():
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday")


async def test_time_range_is_start_inclusive_end_exclusive(minutes):
    filters = Filters(start_ms=T0 + 2 * MINUTE, end_ms=T0 + 5 * MINUTE)
    got = [rec for _, rec in _selected(minutes, filters)]
    assert {r["request_id"] for r in got} == {"req-2", "req-3", "req-4"}
    assert all(T0 + 2 * MINUTE <= r["ts_ms"] < T0 + 5 * MINUTE for r in got)


async def test_jsonl_export_is_byte_for_byte_and_verifies_as_a_slice(minutes):
    out = io.BytesIO()
    n = export_jsonl(_selected(minutes, Filters(start_ms=T0 + 2 * MINUTE)), out)
    lines = out.getvalue().splitlines()
    assert n == len(lines) == 8 * 2 + 1  # minutes 2..9 and the close event
    originals = {line for p in sorted(minutes.iterdir()) for line in p.read_bytes().splitlines()}
    assert set(lines) <= originals
    entries = [Entry(f"x:{i}", raw, False, "x", i) for i, raw in enumerate(lines, 1)]
    assert verify(entries, allow_partial_head=True).ok


async def test_csv_export_has_a_column_per_field(minutes):
    out = io.StringIO()
    n = export_csv(_selected(minutes, Filters(kind=frozenset({"decision"}))), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == len(rows) == 10
    assert tuple(rows[0]) == FIELDS
    assert orjson.loads(rows[0]["params"])["symbol"] == "BTCUSDT"
    assert "signature" not in rows[0]["params"]
    assert rows[0]["rule"] == ""  # null
    assert rows[3]["decision"] == "reject"
    assert rows[0]["state_age_ms"] == "120"


async def test_filters_by_bot_account_decision_and_kind(minutes):
    def ids(**kw):
        return [rec["request_id"] for _, rec in _selected(minutes, Filters(**kw))]

    assert ids(bot=frozenset({"bot2"}), kind=frozenset({"outcome"})) == [
        "req-1",
        "req-3",
        "req-5",
        "req-7",
        "req-9",
    ]
    assert ids(decision=frozenset({"reject"})) == ["req-3", "req-3"]
    assert ids(account=frozenset({"other"})) == []


async def test_cli_export_csv_to_a_file(minutes, tmp_path, capsys):
    out = tmp_path / "out.csv"
    code = main(
        [
            "audit",
            "export",
            "--path",
            str(minutes),
            "--from",
            "2023-11-14T22:15:20Z",
            "--to",
            "2023-11-14T22:17:20Z",
            "--format",
            "csv",
            "--out",
            str(out),
            "--bot",
            "bot1",
        ]
    )
    assert code == 0
    assert "exported 2 records" in capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["request_id"], r["kind"]) for r in rows] == [
        ("req-2", "decision"),
        ("req-2", "outcome"),
    ]


async def test_cli_export_rejects_a_bad_time(minutes, capsys):
    assert main(["audit", "export", str(minutes), "--from", "soon"]) == 2
    assert "not a time" in capsys.readouterr().err
