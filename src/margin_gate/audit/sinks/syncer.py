"""Group commit: one background thread fsyncs the audit files every `interval` seconds.

`write` only appends to the page cache (which survives a SIGKILL of the process); this thread
makes the appended bytes survive a power loss within one interval, so the order path never
waits on the disk.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

__all__ = ["Syncable", "Syncer"]

_log = logging.getLogger("margin_gate.audit")


class Syncable(Protocol):
    def sync(self) -> bool:
        """Flush appended bytes to stable storage; True if anything was flushed."""
        ...


class Syncer:
    """A daemon thread calling `sync()` on its targets every `interval` seconds."""

    def __init__(self, targets: list[Syncable], interval: float) -> None:
        self._targets = targets
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-fsync", daemon=True)
        self.fsyncs = 0
        self.errors = 0
        self.failed = False  # an fsync failed: what was written may not survive a power loss

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then sync once more (blocking; call from a worker thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sync_now()

    def sync_now(self) -> None:
        for target in self._targets:
            try:
                if target.sync():
                    self.fsyncs += 1
            except OSError:
                self.errors += 1
                self.failed = True
                _log.exception("audit fsync failed")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sync_now()
