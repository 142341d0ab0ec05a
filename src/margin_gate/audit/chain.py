"""The hash chain: canonical serialization, record hashes, and `Chain`, which seals records.

A record's `hash` is SHA-256 (hex) over its canonical form: orjson with sorted keys, compact,
of the record without `hash`. `prev` is the hash of the previous record of the same `writer`
(`GENESIS` for the first), and `seq` counts that writer's records from 1. A writer is one
process: replica id plus a boot id, so a restart starts a new chain rather than guessing where
the last one ended.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["GENESIS", "Chain", "canonical", "new_writer_id", "record_hash", "safe_name"]

GENESIS = "0" * 64
_OPTS = orjson.OPT_SORT_KEYS
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _default(value: object) -> str:
    # Money stays a string, as in the exchange's JSON (STYLE.md §5).
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"audit record value of type {type(value).__name__} is not serializable")


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, compact, `hash` excluded."""
    if "hash" in record:
        record = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(record, default=_default, option=_OPTS)


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def safe_name(text: str) -> str:
    """`text` with anything but letters, digits, `_.-` replaced by `_` (for file names)."""
    return _UNSAFE.sub("_", text) or "_"


def new_writer_id(replica: str) -> str:
    """`<replica>.<UTC boot time, ms>.<6 hex>`: unique per process; a replica's writers (and
    so its file names) sort by boot time."""
    sec, ms = divmod(time.time_ns() // 1_000_000, 1000)
    boot = time.strftime("%Y%m%dT%H%M%S", time.gmtime(sec))
    return f"{safe_name(replica)}.{boot}{ms:03d}Z.{secrets.token_hex(3)}"


class Chain:
    """Assigns `writer`, `seq`, `prev` and `hash` to records, one writer's chain."""

    __slots__ = ("_prev", "_seq", "writer")

    def __init__(self, writer: str) -> None:
        self.writer = writer
        self._seq = 0
        self._prev = GENESIS

    @property
    def seq(self) -> int:
        """The seq of the last sealed record (0 before the first)."""
        return self._seq

    @property
    def last_hash(self) -> str:
        return self._prev

    def seal(self, record: dict[str, Any]) -> bytes:
        """Set the chain fields on `record` in place; return its JSONL line (with newline).

        The line is the canonical form with `"hash"` appended as the last key, so the record
        is serialized once. Call `unseal` if the line could not be stored.
        """
        record["writer"] = self.writer
        seq = record["seq"] = self._seq + 1
        record["prev"] = self._prev
        record.pop("hash", None)
        body = orjson.dumps(record, default=_default, option=_OPTS)
        digest = hashlib.sha256(body).hexdigest()
        record["hash"] = digest
        self._seq = seq
        self._prev = digest
        return b'%s,"hash":"%s"}\n' % (body[:-1], digest.encode())

    def unseal(self, seq: int, prev: str) -> None:
        """Rewind to just before the record that had `seq` and `prev` (it was not stored)."""
        self._seq = seq - 1
        self._prev = prev
