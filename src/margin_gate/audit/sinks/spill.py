"""The spill file: stream-bound lines that did not fit the queue, kept on disk until replayed.

Lines are appended whole with one `os.write` (like the JSONL sink) and replayed in order; the
replay position lives in `<spill>.offset`, so a restart resumes where the last process stopped
(a crash between an XADD and the offset update replays one batch twice; `audit verify` accepts
exact duplicates in a stream). When replay catches up the file is truncated to empty.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

__all__ = ["Spill"]

_CHUNK = 4 * 1024 * 1024
_MODE = 0o640


class Spill:
    """An append-only overflow file with a replay offset."""

    def __init__(self, path: Path, *, fsync_each: bool = False) -> None:
        self.path = path
        self._offset_path = path.with_name(path.name + ".offset")
        self._fsync_each = fsync_each
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ofd: int | None = None
        self._size = 0
        self._offset = 0
        self._dirty = False
        self.torn_dropped = 0  # bytes of a torn last line cut off at open (crash mid-write)

    @property
    def pending(self) -> bool:
        """Lines are waiting to be replayed."""
        return self._offset < self._size

    @property
    def size(self) -> int:
        return self._size

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, _MODE)
        size = os.fstat(fd).st_size
        if size:
            good = self._last_newline(fd, size)
            if good != size:  # torn tail from a crash: unusable, and it would glue to the next
                os.ftruncate(fd, good)
                self.torn_dropped = size - good
                size = good
        ofd = os.open(self._offset_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _MODE)
        raw = os.pread(ofd, 32, 0).strip()
        offset = int(raw) if raw.isdigit() else 0
        self._fd, self._ofd, self._size = fd, ofd, size
        self._offset = offset if offset <= size else 0

    @staticmethod
    def _last_newline(fd: int, size: int) -> int:
        """Length of the file up to and including its last newline."""
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            block = os.pread(fd, pos - start, start)
            idx = block.rfind(b"\n")
            if idx >= 0:
                return start + idx + 1
            pos = start
        return 0

    def append(self, line: bytes) -> None:
        fd = self._fd
        assert fd is not None, "Spill.append before open"
        try:
            done = os.write(fd, line)
            while done < len(line):
                done += os.write(fd, memoryview(line)[done:])
            if self._fsync_each:
                os.fdatasync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)
            raise
        self._size += len(line)
        self._dirty = True

    def window(self) -> tuple[int, int]:
        """(offset, end) of the unreplayed bytes, for `read` in a worker thread."""
        return self._offset, self._size

    def read(self, offset: int, end: int, max_lines: int) -> tuple[list[bytes], int]:
        """Up to `max_lines` whole lines from [offset, end) and the offset after them.
        Blocking (pread): run it in a worker thread."""
        fd = self._fd
        assert fd is not None
        data = os.pread(fd, min(end - offset, _CHUNK), offset)
        cut = data.rfind(b"\n") + 1
        if cut == 0 and data:
            data = os.pread(fd, end - offset, offset)  # one line longer than the chunk
            cut = data.rfind(b"\n") + 1
        lines = data[:cut].splitlines(keepends=True)[:max_lines]
        return lines, offset + sum(len(line) for line in lines)

    def advance(self, offset: int) -> None:
        """Mark bytes before `offset` as replayed; empty the file once all are."""
        fd, ofd = self._fd, self._ofd
        assert fd is not None
        assert ofd is not None
        if offset >= self._size:
            os.ftruncate(fd, 0)
            self._size = offset = 0
        self._offset = offset
        os.pwrite(ofd, b"%020d\n" % offset, 0)

    def prepend(self, lines: list[bytes]) -> None:
        """Put `lines` before the unreplayed bytes and make that the whole file (at shutdown,
        when the in-memory queue could not be delivered: the next process replays it first)."""
        fd = self._fd
        assert fd is not None
        rest = os.pread(fd, self._size - self._offset, self._offset)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _MODE)
        try:
            data = b"".join(lines) + rest
            view = memoryview(data)
            while view:
                view = view[os.write(tfd, view) :]
            os.fsync(tfd)
        finally:
            os.close(tfd)
        os.replace(tmp, self.path)
        new = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        with self._lock:
            os.close(fd)
            self._fd = new
        self._size, self._offset, self._dirty = len(data), 0, True
        assert self._ofd is not None
        os.pwrite(self._ofd, b"%020d\n" % 0, 0)

    def sync(self) -> bool:
        fd = self._fd
        if fd is None or not self._dirty:
            return False
        self._dirty = False
        with self._lock:
            if self._fd is not None:
                os.fdatasync(self._fd)
        return True

    def close(self) -> None:
        with self._lock:
            fd, ofd, self._fd, self._ofd = self._fd, self._ofd, None, None
        for d in (fd, ofd):
            if d is not None:
                os.close(d)
