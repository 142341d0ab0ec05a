"""`AuditConfig`: where the audit log goes, how it rotates, syncs, queues and degrades."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from margin_gate.audit.chain import safe_name

__all__ = ["AuditConfig", "Policy"]

Policy = Literal[
    "refuse",  # stream down or queue full: accepting_risk() is False (overflow still spills)
    "spill",  # stream down or queue full: overflow goes to the spill file; keep accepting risk
]
_POLICIES = ("refuse", "spill")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditConfig:
    """Audit log settings. At least one sink: `dir` (JSONL files) and/or `stream` (Redis).

    replica: this gateway replica's id; with a per-process boot id it names the chain's writer.
    dir: directory of the JSONL files (created if missing); None = no file sink.
    prefix: file name prefix, `<prefix>-<writer>-<part>.jsonl`.
    max_bytes: rotate when a file would grow past this size.
    rotate_interval_s: also rotate on UTC boundaries of this many seconds (3600 = hourly);
        None = size only.
    fsync_interval_ms: group commit period of the background fsync thread; 0 = fsync inside
        every `write` (slow: the order path then waits on the disk).
    queue_max: records held in memory for the Redis stream before overflowing to the spill file.
    policy: what `accepting_risk()` says when the stream is down or the queue is full.
    spill_path: overflow file for the stream; default `<dir>/<prefix>-<replica>.spill`.
    stream: Redis stream key; None = no stream sink (the client is passed to `AuditLog`).
    stream_maxlen: approximate MAXLEN trimming of the stream; None = never trim.
    batch_max: records per XADD batch (one atomic script call; Redis is busy ~5 µs a record).
    stream_linger_ms: how long the drain lets a batch gather before sending (CPU vs. delay).
    redis_timeout_s: bound on one batch round trip; a timeout counts as the stream being down.
    heartbeat_s: PING period while the stream is idle, so an outage shows before the next write.
    """

    replica: str
    dir: Path | None = None
    prefix: str = "audit"
    max_bytes: int = 256 * 1024 * 1024
    rotate_interval_s: int | None = 3600
    fsync_interval_ms: int = 50
    queue_max: int = 10_000
    policy: Policy = "spill"
    spill_path: Path | None = None
    stream: str | None = None
    stream_maxlen: int | None = 1_000_000
    batch_max: int = 128
    stream_linger_ms: int = 5
    redis_timeout_s: float = 2.0
    heartbeat_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.replica:
            raise ValueError("audit.replica must not be empty")
        if self.dir is None and self.stream is None:
            raise ValueError("audit needs a sink: set audit.dir and/or audit.stream")
        if self.policy not in _POLICIES:
            raise ValueError(f"audit.policy must be one of {_POLICIES}, not {self.policy!r}")
        if self.stream is not None and self.dir is None and self.spill_path is None:
            raise ValueError("audit.spill_path is required when audit.dir is not set")
        for name in ("max_bytes", "queue_max", "batch_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"audit.{name} must be >= 1")
        if self.stream_linger_ms < 0:
            raise ValueError("audit.stream_linger_ms must be >= 0")
        if self.fsync_interval_ms < 0:
            raise ValueError("audit.fsync_interval_ms must be >= 0")
        if self.rotate_interval_s is not None and self.rotate_interval_s < 1:
            raise ValueError("audit.rotate_interval_s must be >= 1 or None")

    @property
    def spill_file(self) -> Path | None:
        """The spill file in use, or None without a stream sink."""
        if self.stream is None:
            return None
        if self.spill_path is not None:
            return self.spill_path
        assert self.dir is not None  # checked in __post_init__
        return self.dir / f"{self.prefix}-{safe_name(self.replica)}.spill"
