"""Selecting records (time range, bot, account, decision, kind) and writing them as JSONL or CSV.

JSONL export copies each line byte for byte, so exported records keep their chain fields and
hashes (a time slice verifies with `--partial`, gaps aside). CSV has one column per schema field
in `FIELDS` order, `params` as a JSON object, null as empty.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import IO
from typing import Any
from typing import NamedTuple

import orjson

from margin_gate.audit.reader import Entry
from margin_gate.audit.record import FIELDS

__all__ = ["Filters", "export_csv", "export_jsonl", "parse_time", "select"]


class Filters(NamedTuple):
    """Each set is "any of"; None means no filter. Times are epoch ms, [start, end)."""

    bot: frozenset[str] | None = None
    account: frozenset[str] | None = None
    decision: frozenset[str] | None = None
    kind: frozenset[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def match(self, rec: dict[str, Any]) -> bool:
        for name in ("bot", "account", "decision", "kind"):
            allowed: frozenset[str] | None = getattr(self, name)
            if allowed is not None and rec.get(name) not in allowed:
                return False
        ts = rec.get("ts_ms")
        if self.start_ms is not None and not (isinstance(ts, int) and ts >= self.start_ms):
            return False
        return self.end_ms is None or (isinstance(ts, int) and ts < self.end_ms)


def parse_time(text: str) -> int:
    """Epoch milliseconds from digits, or from ISO-8601 (naive means UTC): "2025-01-31",
    "2025-01-31T12:00", "2025-01-31T12:00:00.5Z", "2025-01-31T14:00+02:00"."""
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r} (ISO-8601 or epoch ms)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def select(entries: Iterable[Entry], filters: Filters) -> Iterator[tuple[Entry, dict[str, Any]]]:
    """Parsed records that pass `filters`; unparseable lines (a torn tail) are skipped."""
    for e in entries:
        try:
            rec = orjson.loads(e.raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(rec, dict) and filters.match(rec):
            yield e, rec


def export_jsonl(selected: Iterable[tuple[Entry, dict[str, Any]]], out: IO[bytes]) -> int:
    n = 0
    for e, _ in selected:
        out.write(e.raw + b"\n")
        n += 1
    return n


def export_csv(selected: Iterable[tuple[Entry, dict[str, Any]]], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    n = 0
    for _, rec in selected:
        writer.writerow([_cell(rec.get(name)) for name in FIELDS])
        n += 1
    return n


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
