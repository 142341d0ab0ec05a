"""Reading audit records back: files, directories of rotated files, and Redis streams.

Every reader yields `Entry`s in storage order with a human position ("file:line" or
"stream id"), which `verify`, `export` and `tail` share. Blocking I/O; for the CLI and tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = ["Entry", "Source", "audit_files", "iter_file", "iter_sources", "iter_stream"]

STREAM_FIELD = b"record"


class Entry(NamedTuple):
    """One stored line."""

    where: str  # "path:line" or "stream@id", for messages
    raw: bytes  # the line, without its newline
    torn: bool  # a file's last line with no newline: a write cut short by a crash
    source: str  # the file or stream it came from
    line: int  # 1-based line number in a file; entry index in a stream


class Source(NamedTuple):
    """Where records are read from: a file or directory, or a Redis URL plus stream key."""

    path: Path | None = None
    redis_url: str | None = None
    stream: str | None = None

    @staticmethod
    def parse(spec: str, stream: str | None) -> Source:
        if spec.startswith(("redis://", "rediss://", "unix://")):
            if not stream:
                raise ValueError(f"{spec}: a Redis source needs --stream NAME")
            return Source(redis_url=spec, stream=stream)
        return Source(path=Path(spec))


def audit_files(path: Path) -> list[Path]:
    """`path` itself, or a directory's `*.jsonl` files sorted by name (chain order)."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.jsonl") if p.is_file())
    if not path.exists():
        raise FileNotFoundError(f"no such audit file or directory: {path}")
    return [path]


def iter_file(path: Path, start: int = 0) -> Iterator[Entry]:
    name = str(path)
    with path.open("rb") as f:
        if start:
            f.seek(start)
        for n, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                yield Entry(f"{name}:{n}", raw[:-1], False, name, n)
            else:
                yield Entry(f"{name}:{n}", raw, True, name, n)


def iter_stream(url: str, stream: str, *, batch: int = 1000) -> Iterator[Entry]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        low = "-"
        n = 0
        while True:
            chunk = client.xrange(stream, min=low, max="+", count=batch) or []
            sid = ""
            for entry_id, fields in chunk:
                n += 1
                sid = _text(entry_id)
                raw = (fields or {}).get(STREAM_FIELD, b"")
                raw = raw.encode() if isinstance(raw, str) else raw
                yield Entry(f"{stream}@{sid}", raw, False, stream, n)
            if len(chunk) < batch:
                return
            low = "(" + sid  # exclusive range (Redis >= 6.2)
    finally:
        client.close()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def iter_sources(sources: Iterable[Source]) -> Iterator[Entry]:
    for src in sources:
        if src.path is not None:
            for path in audit_files(src.path):
                yield from iter_file(path)
        else:
            assert src.redis_url is not None
            assert src.stream is not None
            yield from iter_stream(src.redis_url, src.stream)
