"""`verify`: check each writer's hash chain and name the first record edited, removed, inserted
or reordered.

Per record: the hash must match its content (else *edited*); per writer, seq must run 1, 2, 3...
and each `prev` must be the hash of the writer's previous seq. A seq that jumps opens a gap; a
later record that fills it makes the first record past the gap *reordered*, a gap still open at
the end is *removed*; a seq seen before with another hash, or a `prev` that does not match, is
*inserted*. A file's last line cut short (no newline, not JSON) is a *torn tail*: a warning, not
tampering. A chain that starts past seq 1 is *removed* unless partial heads are allowed (a
trimmed stream, rotated files pruned by retention); exact duplicates are allowed in streams
(at-least-once delivery). Truncating a chain's tail, or rewriting every record from one point on,
is not detectable from the chain alone: see docs/audit.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal
from typing import NamedTuple

import orjson

from margin_gate.audit.chain import GENESIS
from margin_gate.audit.chain import record_hash
from margin_gate.audit.reader import Entry
from margin_gate.audit.record import CLOSED_MSG

__all__ = ["Finding", "Report", "WriterSummary", "format_report", "verify"]

ProblemKind = Literal["edited", "removed", "inserted", "reordered"]
WarningKind = Literal["torn tail", "partial head", "duplicate", "no newline"]
_WINDOW = 8192  # seqs per writer whose hash and position are remembered for link checks


class Finding(NamedTuple):
    kind: ProblemKind | WarningKind
    where: str
    detail: str
    ordinal: int  # position in the input, to order findings


@dataclass
class WriterSummary:
    writer: str
    first_seq: int
    last_seq: int = 0
    records: int = 0
    closed: bool = False  # its last record is the "audit log closed" event


@dataclass
class Report:
    records: int = 0
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    writers: dict[str, WriterSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Finding | None:
        return min(self.problems, key=lambda f: f.ordinal) if self.problems else None


class _Gap:
    __slots__ = ("hi", "lo", "ordinal", "seq_after", "where")

    def __init__(self, lo: int, hi: int, where: str, ordinal: int, seq_after: int) -> None:
        self.lo, self.hi = lo, hi  # missing seqs, inclusive
        self.where, self.ordinal, self.seq_after = where, ordinal, seq_after


class _Seen(NamedTuple):
    hash: str
    where: str
    prev: object
    ordinal: int


class _Writer:
    def __init__(self, summary: WriterSummary) -> None:
        self.summary = summary
        self.max_seq = 0
        self.hashes: dict[int, _Seen] = {}  # the last _WINDOW seqs
        self.order: deque[int] = deque()
        self.gaps: list[_Gap] = []
        self.twins: dict[int, tuple[_Seen, _Seen]] = {}  # seq stored twice: (earlier, later)

    def remember(self, seq: int, seen: _Seen) -> None:
        if seq not in self.hashes:
            self.order.append(seq)
            if len(self.order) > _WINDOW:
                self.hashes.pop(self.order.popleft(), None)
        self.hashes[seq] = seen

    def fill(self, seq: int) -> _Gap | None:
        """Take `seq` out of the open gaps; the gap it was in, if any."""
        for i, gap in enumerate(self.gaps):
            if gap.lo <= seq <= gap.hi:
                parts = [(gap.lo, seq - 1), (seq + 1, gap.hi)]
                rest = [_Gap(lo, hi, gap.where, gap.ordinal, gap.seq_after) for lo, hi in parts]
                self.gaps[i : i + 1] = [g for g in rest if g.lo <= g.hi]
                return gap
        return None


class _Verifier:
    def __init__(self, allow_partial_head: bool, allow_duplicates: bool) -> None:
        self.report = Report()
        self.writers: dict[str, _Writer] = {}
        self.allow_partial_head = allow_partial_head
        self.allow_duplicates = allow_duplicates

    def problem(self, kind: ProblemKind, e: Entry, i: int, detail: str) -> None:
        self.report.problems.append(Finding(kind, e.where, detail, i))

    def warn(self, kind: WarningKind, e: Entry, i: int, detail: str) -> None:
        self.report.warnings.append(Finding(kind, e.where, detail, i))

    def entry(self, e: Entry, i: int) -> None:
        try:
            rec = orjson.loads(e.raw)
        except orjson.JSONDecodeError:
            rec = None
        if not isinstance(rec, dict):
            if e.torn:
                self.warn("torn tail", e, i, f"{len(e.raw)} bytes cut short by a crash")
            else:
                self.problem("edited", e, i, "not a JSON object")
            return
        if e.torn:
            self.warn("no newline", e, i, "last line has no newline")
        self.record(rec, e, i)

    def record(self, rec: dict[str, Any], e: Entry, i: int) -> None:
        w, q, p, h = (rec.get(k) for k in ("writer", "seq", "prev", "hash"))
        if not (isinstance(w, str) and type(q) is int and q > 0):
            self.problem("edited", e, i, "no valid writer/seq chain fields")
            return
        self.report.records += 1
        if record_hash(rec) != h:
            self.problem("edited", e, i, f"seq {q}: content does not match its hash")
        digest = h if isinstance(h, str) else ""
        st = self.writers.get(w)
        if st is None:
            st = self.writers[w] = _Writer(WriterSummary(w, first_seq=q))
            self.report.writers[w] = st.summary
            self.first(st, q, p, e, i)
        elif q == st.max_seq + 1:
            self.link(st, q, p, e, i)
        elif q > st.max_seq + 1:
            st.gaps.append(_Gap(st.max_seq + 1, q - 1, e.where, i, q))
        elif not self.backwards(st, q, p, digest, e, i):
            return  # an exact duplicate: not counted again
        st.remember(q, _Seen(digest, e.where, p, i))
        st.max_seq = max(st.max_seq, q)
        s = st.summary
        s.records += 1
        if q >= s.last_seq:
            s.last_seq = q
            s.closed = rec.get("kind") == "event" and rec.get("msg") == CLOSED_MSG

    def first(self, st: _Writer, q: int, p: object, e: Entry, i: int) -> None:
        if q == 1:
            if p != GENESIS:
                self.problem("inserted", e, i, "seq 1 does not start from the genesis hash")
        elif self.allow_partial_head:
            self.warn("partial head", e, i, f"writer {st.summary.writer} starts at seq {q}")
        else:
            st.gaps.append(_Gap(1, q - 1, e.where, i, q))

    def link(self, st: _Writer, q: int, p: object, e: Entry, i: int) -> None:
        twins = st.twins.pop(q - 1, None)
        if twins is not None:  # the successor tells which of the two is in the chain
            earlier, later = twins
            fake = earlier if p == later.hash else later
            self.report.problems.append(
                Finding(
                    "inserted",
                    fake.where,
                    f"seq {q - 1} is stored twice and this one is not in the chain "
                    f"(seq {q} at {e.where} follows the other)",
                    fake.ordinal,
                )
            )
            return
        known = st.hashes.get(q - 1)
        if known is not None and p != known.hash:
            self.problem(
                "inserted",
                e,
                i,
                f"seq {q}: prev is not the hash of seq {q - 1} at {known.where} "
                "(this record was inserted, or that one replaced)",
            )

    def backwards(self, st: _Writer, q: int, p: object, digest: str, e: Entry, i: int) -> bool:
        """A seq at or below the highest seen. False for an exact duplicate."""
        gap = st.fill(q)
        if gap is not None:
            self.report.problems.append(
                Finding(
                    "reordered",
                    gap.where,
                    f"seq {gap.seq_after} is stored before seq {q} (at {e.where})",
                    gap.ordinal,
                )
            )
            self.link(st, q, p, e, i)
            after = st.hashes.get(q + 1)  # the record stored before this one: link it now
            if after is not None and after.prev != digest:
                self.problem(
                    "inserted", e, i, f"seq {q + 1} at {after.where}: prev is not this hash"
                )
            return True
        seen = st.hashes.get(q)
        if seen is not None and seen.hash == digest:
            if self.allow_duplicates:
                self.warn("duplicate", e, i, f"seq {q} again (first at {seen.where})")
            else:
                self.problem("inserted", e, i, f"seq {q}: a copy of {seen.where}")
            return False
        if q < st.summary.first_seq:
            self.problem("reordered", e, i, f"seq {q} comes after seq {st.summary.first_seq}")
        elif seen is not None and q == st.max_seq:
            st.twins[q] = (seen, _Seen(digest, e.where, p, i))  # judged by the successor
        else:
            at = f"at {seen.where}" if seen else "earlier"
            self.problem("inserted", e, i, f"seq {q} appears twice (also {at})")
        return True

    def finish(self) -> Report:
        for st in self.writers.values():
            for q, (earlier, later) in st.twins.items():
                self.report.problems.append(
                    Finding(
                        "inserted",
                        later.where,
                        f"seq {q} appears twice (also at {earlier.where})",
                        later.ordinal,
                    )
                )
            for gap in st.gaps:
                seqs = f"seq {gap.lo}" if gap.lo == gap.hi else f"seq {gap.lo}..{gap.hi}"
                self.report.problems.append(
                    Finding(
                        "removed",
                        gap.where,
                        f"{seqs} of writer {st.summary.writer} missing before this record",
                        gap.ordinal,
                    )
                )
        self.report.problems.sort(key=lambda f: f.ordinal)
        return self.report


def verify(
    entries: Iterable[Entry], *, allow_partial_head: bool = False, allow_duplicates: bool = False
) -> Report:
    """Check every writer's chain in `entries` (storage order)."""
    v = _Verifier(allow_partial_head, allow_duplicates)
    for i, e in enumerate(entries):
        v.entry(e, i)
    return v.finish()


def format_report(report: Report, *, limit: int = 20) -> str:
    lines: list[str] = []
    first = report.first
    if first is not None:
        lines.append(f"FAIL: first problem: {first.kind} at {first.where}: {first.detail}")
        lines.extend(f"  {f.kind} at {f.where}: {f.detail}" for f in report.problems[:limit])
        if len(report.problems) > limit:
            lines.append(f"  ... {len(report.problems) - limit} more problems")
    lines.extend(f"warning: {f.kind} at {f.where}: {f.detail}" for f in report.warnings[:limit])
    for s in report.writers.values():
        state = "closed" if s.closed else "not closed (crashed, running, or tail lost)"
        lines.append(
            f"writer {s.writer}: seq {s.first_seq}..{s.last_seq}, {s.records} records, {state}"
        )
    verdict = "OK" if report.ok else "FAILED"
    lines.append(f"{verdict}: {report.records} records, {len(report.writers)} writers")
    return "\n".join(lines)
