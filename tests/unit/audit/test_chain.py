"""The hash chain: seq, prev and hash per writer; the line is the canonical form plus hash."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from margin_gate.audit.chain import GENESIS
from margin_gate.audit.chain import Chain
from margin_gate.audit.chain import canonical
from margin_gate.audit.chain import new_writer_id
from margin_gate.audit.chain import record_hash
from margin_gate.audit.reader import Entry
from margin_gate.audit.verify import verify


def test_seal_assigns_seq_prev_and_hash_in_order():
    chain = Chain("r1.boot")
    first: dict[str, Any] = {"kind": "event", "msg": "hello"}
    second: dict[str, Any] = {"kind": "decision", "bot": "b"}
    chain.seal(first)
    chain.seal(second)
    assert (first["seq"], first["prev"], first["writer"]) == (1, GENESIS, "r1.boot")
    assert (second["seq"], second["prev"]) == (2, first["hash"])
    assert chain.seq == 2
    assert chain.last_hash == second["hash"]


def test_hash_is_sha256_of_sorted_compact_json_without_hash():
    chain = Chain("w")
    rec: dict[str, Any] = {"kind": "event", "z": 1, "a": "x"}
    line = chain.seal(rec)
    body = orjson.dumps({k: v for k, v in rec.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)
    assert rec["hash"] == hashlib.sha256(body).hexdigest()
    assert line.endswith(b"\n")
    assert orjson.loads(line) == rec
    assert record_hash(orjson.loads(line)) == rec["hash"]


def test_decimals_are_written_as_strings():
    rec: dict[str, Any] = {"kind": "decision", "unimmr_before": Decimal("1.2500")}
    line = Chain("w").seal(rec)
    assert orjson.loads(line)["unimmr_before"] == "1.2500"


def test_unserializable_values_raise_before_anything_is_stored():
    chain = Chain("w")
    with pytest.raises(TypeError):
        chain.seal({"kind": "event", "bad": object()})


def test_unseal_rewinds_so_the_next_record_takes_the_seq():
    chain = Chain("w")
    a: dict[str, Any] = {"kind": "event"}
    chain.seal(a)
    b: dict[str, Any] = {"kind": "event", "msg": "lost"}
    chain.seal(b)
    chain.unseal(b["seq"], a["hash"])
    c: dict[str, Any] = {"kind": "event", "msg": "kept"}
    chain.seal(c)
    assert (c["seq"], c["prev"]) == (2, a["hash"])


def test_writer_ids_are_unique_and_filename_safe():
    ids = {new_writer_id("eu west/1") for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("eu_west_1.") and "/" not in i for i in ids)


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dictionaries(st.text(), st.text(), max_size=4),
)
_records = st.dictionaries(st.text(min_size=1).filter(lambda k: k != "hash"), _values, max_size=8)


@given(st.lists(_records, min_size=1, max_size=6))
def test_any_sealed_sequence_verifies_and_round_trips(recs):
    chain = Chain("prop")
    entries = []
    for n, rec in enumerate(recs, 1):
        line = chain.seal(rec)
        parsed = orjson.loads(line)
        assert canonical(parsed) == canonical(rec)
        entries.append(Entry(f"mem:{n}", line[:-1], False, "mem", n))
    report = verify(entries)
    assert report.ok, report.problems
    assert report.records == len(recs)
