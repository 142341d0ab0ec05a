"""Following an audit log as it grows (files, a directory of rotating files, or a stream).

`follow_files` first yields the last `backlog` matching lines of the most recently written
file, then every new complete line of any file in the directory, including files that appear
later (rotation, a restarted writer). `follow_stream` does the same with XREVRANGE + XREAD.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from margin_gate.audit.reader import STREAM_FIELD
from margin_gate.audit.reader import audit_files
from margin_gate.audit.reader import iter_file

__all__ = ["brief", "follow_files", "follow_stream"]

Keep = Callable[[bytes], bool]
Stop = Callable[[], bool]


def _never() -> bool:
    return False


def follow_files(
    path: Path, keep: Keep, *, backlog: int = 10, poll: float = 0.2, stop: Stop = _never
) -> Iterator[bytes]:
    """Lines from now on: where each file ends is taken at the call, not at the first next()."""
    files = audit_files(path)
    offsets = {p: p.stat().st_size for p in files}
    recent: deque[bytes] = deque(maxlen=max(backlog, 0))
    if files and backlog > 0:
        newest = max(files, key=lambda p: (p.stat().st_mtime_ns, p.name))
        for e in iter_file(newest):
            if not e.torn and e.raw and keep(e.raw) and len(e.raw) <= offsets[newest]:
                recent.append(e.raw)
    return _follow(path, keep, list(recent), offsets, poll, stop)


def _follow(
    path: Path, keep: Keep, backlog: list[bytes], offsets: dict[Path, int], poll: float, stop: Stop
) -> Iterator[bytes]:
    yield from backlog
    partial: dict[Path, bytes] = {}
    while not stop():
        for p in audit_files(path):
            offset = offsets.get(p, 0)
            try:
                size = p.stat().st_size
            except FileNotFoundError:
                continue  # pruned between listing and reading
            if size <= offset:
                continue
            with p.open("rb") as f:
                f.seek(offset)
                data = partial.pop(p, b"") + f.read(size - offset)
            offsets[p] = size
            *complete, rest = data.split(b"\n")
            if rest:
                partial[p] = rest  # a line still being written
            yield from (line for line in complete if keep(line))
        time.sleep(poll)


def follow_stream(
    url: str, stream: str, keep: Keep, *, backlog: int = 10, poll: float = 0.2, stop: Stop = _never
) -> Iterator[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        last_id = _last_id(client, stream)
        if backlog > 0:
            recent = client.xrevrange(stream, max=last_id, count=backlog * 10) or []
            lines = [(f or {}).get(STREAM_FIELD, b"") for _, f in reversed(recent)]
            yield from [x for x in lines if isinstance(x, bytes) and keep(x)][-backlog:]
        block_ms = max(1, int(poll * 1000))
        while not stop():
            reply: Any = client.xread({stream: last_id}, block=block_ms, count=500)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last_id = _text(entry_id)
                    line = fields.get(STREAM_FIELD, b"")
                    if keep(line):
                        yield line
    finally:
        client.close()


def _last_id(client: Any, stream: str) -> str:
    info = client.xrevrange(stream, count=1) or []
    return _text(info[0][0]) if info else "0-0"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def brief(line: bytes) -> str:
    """One human line per record: time, kind, decision, who, what, why."""
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line.decode(errors="replace")
    if not isinstance(rec, dict):
        return line.decode(errors="replace")
    parts = [
        str(rec.get("ts", "?")),
        f"{rec.get('kind', '?'):<8}",
        f"{rec.get('decision') or '-':<6}",
        f"bot={rec.get('bot') or '-'}",
        f"account={rec.get('account') or '-'}",
        f"{rec.get('method') or ''} {rec.get('endpoint') or ''}".strip() or "-",
    ]
    for name in ("rule", "code", "exchange_status", "order_id", "msg"):
        if rec.get(name) is not None:
            parts.append(f"{name}={rec[name]}")
    parts.append(f"seq={rec.get('seq')}")
    return " ".join(parts)
