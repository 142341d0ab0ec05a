"""`AuditLog`: the hot-path API. Seals each record into the chain and hands it to the sinks.

    audit = AuditLog(AuditConfig(replica="r1", dir=Path("var/audit")), redis=client)
    await audit.start()
    audit.write({"kind": "decision", "request_id": rid, ...})   # a few µs, synchronous
    if not audit.accepting_risk(): ...                           # refuse risk-increasing orders
    await audit.close()                                          # drain, final fsync

`write` returns once the line is in the kernel (JSONL file: survives a SIGKILL); fsync runs
every `fsync_interval_ms` on a thread; the Redis stream is fed by a background task. Call
`write` from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any
from typing import Literal

from redis.asyncio import Redis

from margin_gate.audit.chain import Chain
from margin_gate.audit.chain import new_writer_id
from margin_gate.audit.config import AuditConfig
from margin_gate.audit.record import CLOSED_MSG
from margin_gate.audit.record import OPENED_MSG
from margin_gate.audit.record import AuditRecord
from margin_gate.audit.record import iso_ms
from margin_gate.audit.record import redact
from margin_gate.audit.sinks.file import FileSink
from margin_gate.audit.sinks.redis_stream import StreamSink
from margin_gate.audit.sinks.spill import Spill
from margin_gate.audit.sinks.syncer import Syncable
from margin_gate.audit.sinks.syncer import Syncer
from margin_gate.clock import Clock
from margin_gate.clock import SystemClock

__all__ = ["AuditClosedError", "AuditLog", "AuditWriteError"]

_log = logging.getLogger("margin_gate.audit")


class AuditWriteError(OSError):
    """The JSONL file could not take the record: it is not logged. Fail closed (do not
    forward the order this decision record was for)."""


class AuditClosedError(RuntimeError):
    """`write` before `start()` or after `close()`."""


_State = Literal["new", "open", "closed"]


class AuditLog:
    """One writer's audit chain, written to a JSONL file and/or a Redis stream."""

    def __init__(
        self, config: AuditConfig, *, redis: Redis | None = None, clock: Clock | None = None
    ) -> None:
        if (config.stream is None) != (redis is None):
            raise ValueError("audit.stream and the redis client go together")
        self.config = config
        self.writer = new_writer_id(config.replica)
        self._clock: Clock = clock or SystemClock()
        self._chain = Chain(self.writer)
        self._replica = config.replica
        fsync_each = config.fsync_interval_ms == 0
        self._file: FileSink | None = None
        if config.dir is not None:
            self._file = FileSink(
                config.dir,
                prefix=config.prefix,
                writer=self.writer,
                max_bytes=config.max_bytes,
                rotate_interval_s=config.rotate_interval_s,
                fsync_each=fsync_each,
            )
        self._spill: Spill | None = None
        self._stream: StreamSink | None = None
        spill_file = config.spill_file
        if redis is not None and config.stream is not None and spill_file is not None:
            self._spill = Spill(spill_file, fsync_each=fsync_each)
            self._stream = StreamSink(
                redis,
                self._spill,
                stream=config.stream,
                maxlen=config.stream_maxlen,
                queue_max=config.queue_max,
                batch_max=config.batch_max,
                timeout_s=config.redis_timeout_s,
                heartbeat_s=config.heartbeat_s,
                linger_s=config.stream_linger_ms / 1000,
            )
        targets: list[Syncable] = [t for t in (self._file, self._spill) if t is not None]
        self._syncer = None if fsync_each else Syncer(targets, config.fsync_interval_ms / 1000)
        self._state: _State = "new"
        self._file_failed = False
        self.written = 0  # records sealed and stored
        self.write_errors = 0  # records refused because the file could not take them

    # -- lifecycle

    async def start(self) -> None:
        """Open the files, start the fsync thread and the stream task, write the open event.
        Raises OSError if the directory or the spill file cannot be opened (fail at startup)."""
        if self._state != "new":
            raise RuntimeError("AuditLog.start() called twice")
        if self._file is not None:
            self._file.open(self._clock.now_ms())
        if self._spill is not None:
            self._spill.open()
        if self._syncer is not None:
            self._syncer.start()
        if self._stream is not None:
            await self._stream.start()
        self._state = "open"
        sinks = ",".join(n for n, s in (("file", self._file), ("stream", self._stream)) if s)
        details = {
            "pid": str(os.getpid()),
            "sinks": sinks,
            "policy": self.config.policy,
            "fsync_interval_ms": str(self.config.fsync_interval_ms),
        }
        self.write({"kind": "event", "msg": OPENED_MSG, "params": details})

    async def close(self, timeout: float = 5.0) -> None:
        """Write the close event, deliver the stream queue (within `timeout`; the rest stays
        in the spill file for the next start), fsync and close the files. Idempotent."""
        if self._state != "open":
            return
        try:
            self.write({"kind": "event", "msg": CLOSED_MSG})
        except AuditWriteError:
            _log.exception("audit close event not written")
        self._state = "closed"
        if self._stream is not None:
            await self._stream.stop(timeout)
        if self._syncer is not None:
            await asyncio.to_thread(self._syncer.stop)
        if self._file is not None:
            self._file.close()
        if self._spill is not None:
            self._spill.close()

    # -- hot path

    def write(self, record: AuditRecord) -> None:
        """Seal `record` into the chain and store it; returns once the JSONL line is in the
        kernel. Takes ownership of `record`: fills in `ts`, `ts_ms`, `replica`, `writer`,
        `seq`, `prev`, `hash` and replaces `params` by its redacted copy.

        Raises AuditWriteError if the file sink failed (the record is not in the chain) and
        AuditClosedError outside start()..close().
        """
        if self._state != "open":
            raise AuditClosedError(f"audit log is {self._state}")
        chain = self._chain
        seq, prev = chain.seq + 1, chain.last_hash
        line, ts_ms = self._seal(record)
        self._store(line, ts_ms, seq, prev)
        if self._stream is not None:
            self._stream.put(line)

    def write_all(self, records: list[AuditRecord]) -> None:
        """`write` for records that are ready together (a refused order's decision and
        outcome): sealed in order, stored with one append — all of them or none."""
        if self._state != "open":
            raise AuditClosedError(f"audit log is {self._state}")
        chain = self._chain
        seq, prev = chain.seq + 1, chain.last_hash
        try:
            sealed = [self._seal(record) for record in records]
        except Exception:
            chain.unseal(seq, prev)  # one that cannot be serialized: none of them is written
            raise
        if not sealed:
            return
        self._store(b"".join(line for line, _ in sealed), sealed[-1][1], seq, prev, len(sealed))
        if self._stream is not None:
            for line, _ in sealed:
                self._stream.put(line)

    def _seal(self, record: AuditRecord) -> tuple[bytes, int]:
        rec: dict[str, Any] = record  # type: ignore[assignment]  # (no typing.cast call)
        ts_ms = rec.get("ts_ms")
        if ts_ms is None:
            ts_ms = rec["ts_ms"] = self._clock.now_ms()
        if "ts" not in rec:
            rec["ts"] = iso_ms(ts_ms)
        rec["replica"] = self._replica
        params = rec.get("params")
        if params is not None:
            rec["params"] = redact(params)
        return self._chain.seal(rec), ts_ms

    def _store(self, lines: bytes, ts_ms: int, seq: int, prev: str, count: int = 1) -> None:
        """Append sealed `lines` (the first has `seq` and `prev`); unseal them on failure."""
        if self._file is not None:
            try:
                self._file.append(lines, ts_ms)
            except OSError as exc:
                self._chain.unseal(seq, prev)
                self._file_failed = True
                self.write_errors += count
                raise AuditWriteError(exc.errno, f"audit file append failed: {exc}") from exc
            self._file_failed = False
        self.written += count

    def accepting_risk(self) -> bool:
        """False when the gateway must refuse new risk-increasing orders: the file sink failed
        (a write or an fsync), a stream record could not even be spilled, or, with policy
        "refuse", the stream is down, its queue is full, or spilled records await replay."""
        if self._file_failed or (self._syncer is not None and self._syncer.failed):
            return False
        stream = self._stream
        if stream is None:
            return True
        if stream.spill_failed:
            return False
        return self.config.policy != "refuse" or stream.healthy

    # -- metrics (plain numbers for the metrics module)

    @property
    def seq(self) -> int:
        """seq of the last record written (0 before start)."""
        return self._chain.seq

    @property
    def queue_depth(self) -> int:
        return self._stream.depth if self._stream is not None else 0

    @property
    def streamed(self) -> int:
        """Records delivered to the stream (XADD acknowledged), replays included."""
        return self._stream.sent if self._stream is not None else 0

    @property
    def spilled(self) -> int:
        return self._stream.spilled if self._stream is not None else 0

    @property
    def replayed(self) -> int:
        return self._stream.replayed if self._stream is not None else 0

    @property
    def stream_up(self) -> bool | None:
        """None without a stream sink."""
        return self._stream.up if self._stream is not None else None

    @property
    def spilling(self) -> bool:
        return self._stream.spilling if self._stream is not None else False

    @property
    def fsyncs(self) -> int:
        return self._syncer.fsyncs if self._syncer is not None else 0

    @property
    def files_opened(self) -> int:
        return self._file.files_opened if self._file is not None else 0

    @property
    def errors(self) -> int:
        """All errors: file writes, rotation, fsync, stream round trips, spill appends."""
        n = self.write_errors
        if self._file is not None:
            n += self._file.errors
        if self._syncer is not None:
            n += self._syncer.errors
        if self._stream is not None:
            n += self._stream.errors
        return n
