"""The JSONL file sink: append-only files with size and time rotation, one writer per file.

Each process (writer) opens its own files, `<prefix>-<writer>-<part>.jsonl` with part = 000001,
000002, ..., so names sort in chain order and a crashed writer's torn last line is never
followed by another writer's records. `append` is one `os.write` on an O_APPEND descriptor: when
it returns, the line is in the kernel and survives a SIGKILL. fsync is left to the `Syncer`
thread (group commit) unless `fsync_each` is set.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

__all__ = ["FileSink", "file_name"]

_log = logging.getLogger("margin_gate.audit")
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_MODE = 0o640  # audit records name bots and accounts: not world-readable


def file_name(prefix: str, writer: str, part: int) -> str:
    return f"{prefix}-{writer}-{part:06d}.jsonl"


class FileSink:
    """Appends sealed lines to the current file, rotating by size and on UTC time boundaries."""

    def __init__(
        self,
        directory: Path,
        *,
        prefix: str,
        writer: str,
        max_bytes: int,
        rotate_interval_s: int | None,
        fsync_each: bool = False,
    ) -> None:
        self.directory = directory
        self._prefix = prefix
        self._writer = writer
        self._max_bytes = max_bytes
        self._interval_ms = rotate_interval_s * 1000 if rotate_interval_s else None
        self._fsync_each = fsync_each
        self._lock = threading.Lock()  # guards _fd/_retired against the fsync thread
        self._fd: int | None = None
        self._retired: list[int] = []
        self._dir_dirty = False
        self._part = 0
        self._size = 0
        self._next_rotate_ms = 0
        self._broken = False
        self._written = 0  # bytes appended, all files
        self._synced = 0  # bytes known flushed
        self.path: Path | None = None
        self.files_opened = 0
        self.errors = 0

    # -- hot path (event loop thread)

    def open(self, now_ms: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rotate(now_ms)

    def append(self, line: bytes, ts_ms: int) -> None:
        """Append one line; raises OSError (the file is left without a partial line if it can)."""
        if (
            self._broken
            or (self._size and self._size + len(line) > self._max_bytes)
            or (self._interval_ms is not None and ts_ms >= self._next_rotate_ms)
        ):
            self._try_rotate(ts_ms)
        fd = self._fd
        assert fd is not None, "FileSink.append before open"
        try:
            done = os.write(fd, line)
            while done < len(line):  # a short write (disk nearly full): finish or fail
                done += os.write(fd, memoryview(line)[done:])
            if self._fsync_each:
                os.fdatasync(fd)
        except OSError:
            self._drop_partial(fd)
            raise
        self._size += len(line)
        self._written += len(line)

    def _try_rotate(self, ts_ms: int) -> None:
        try:
            self._rotate(ts_ms)
        except OSError:
            if self._fd is None or self._broken:
                raise
            # Rotation is housekeeping: keep appending to the current file, retry next time.
            self.errors += 1
            _log.exception("audit file rotation failed; still writing %s", self.path)

    def _drop_partial(self, fd: int) -> None:
        try:
            os.ftruncate(fd, self._size)
        except OSError:
            self._broken = True  # a torn line stays at this file's end; continue in a new file

    def _rotate(self, now_ms: int) -> None:
        part = self._part + 1
        path = self.directory / file_name(self._prefix, self._writer, part)
        fd = os.open(path, _FLAGS, _MODE)
        with self._lock:
            old, self._fd = self._fd, fd
            if old is not None:
                self._retired.append(old)
            self._dir_dirty = True
        self._part, self._size, self._broken, self.path = part, 0, False, path
        self.files_opened += 1
        if self._interval_ms is not None:
            self._next_rotate_ms = (now_ms // self._interval_ms + 1) * self._interval_ms
        if self._fsync_each:
            self.sync()

    # -- fsync thread

    def sync(self) -> bool:
        with self._lock:
            fd, retired, self._retired = self._fd, self._retired, []
            dir_dirty, self._dir_dirty = self._dir_dirty, False
            written = self._written
        flushed = False
        for old in retired:
            try:
                os.fdatasync(old)
            finally:
                os.close(old)
            flushed = True
        if fd is not None and written != self._synced:
            os.fdatasync(fd)
            self._synced = written
            flushed = True
        if dir_dirty:  # a new file's directory entry must survive a power loss too
            dfd = os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        return flushed

    def close(self) -> None:
        """Flush and close. Call after the fsync thread has stopped."""
        self.sync()
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
