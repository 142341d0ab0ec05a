"""The Redis stream sink: a bounded in-memory queue drained by one task in batched XADDs.

`put` never blocks and never drops: a line goes to the queue, or, once the queue is full, to the
spill file, and then every later line goes to the spill too until the drain has replayed it, so
the stream receives each writer's records in chain order. Each stream entry has one field,
`record`, holding the JSONL line exactly as the file has it (without the newline).

States: `up` (the last round trip worked) and `spilling` (lines are waiting in the spill file).
`healthy` (up, not spilling, drain task running) is what `AuditLog.accepting_risk` reads under
the "refuse" policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from redis.asyncio import Redis
from redis.exceptions import RedisError

from margin_gate.audit.sinks.spill import Spill
from margin_gate.tasks import spawn

__all__ = ["StreamSink"]

_log = logging.getLogger("margin_gate.audit")
_BACKOFF_MIN = 0.05
_BACKOFF_MAX = 1.0
# One EVALSHA per batch instead of a pipeline of XADDs: redis-py spends ~15-40 µs of client
# CPU per pipelined command, the script ~2-5 µs per record (measured with redis-py 8.1, batches
# of 50-500), and that CPU is the gateway's. The batch is atomic: keep batch_max modest (128),
# since Redis runs nothing else while a batch is added.
_XADD_BATCH = """
local maxlen = tonumber(ARGV[1])
for i = 2, #ARGV do
  if maxlen > 0 then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'record', ARGV[i])
  else
    redis.call('XADD', KEYS[1], '*', 'record', ARGV[i])
  end
end
return #ARGV - 1
"""


class StreamSink:
    """Queue + drain task for one Redis stream, with the spill file as overflow."""

    def __init__(
        self,
        redis: Redis,
        spill: Spill,
        *,
        stream: str,
        maxlen: int | None,
        queue_max: int,
        batch_max: int,
        timeout_s: float,
        heartbeat_s: float,
        linger_s: float = 0.0,
    ) -> None:
        self._redis = redis
        self._xadd_batch = redis.register_script(_XADD_BATCH)
        self._spill = spill
        self._stream = stream
        self._maxlen = maxlen
        self._queue_max = queue_max
        self._batch_max = batch_max
        self._timeout = timeout_s
        self._heartbeat = heartbeat_s
        self._linger = linger_s
        self._queue: deque[bytes] = deque()
        self._inflight: list[bytes] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._backoff = _BACKOFF_MIN
        self.up = True
        self.spilling = False
        self.spill_failed = False  # a spill append failed: that line is missing from the stream
        self.sent = 0
        self.spilled = 0
        self.replayed = 0
        self.errors = 0

    @property
    def depth(self) -> int:
        """Lines held in memory (queued or in the batch being sent)."""
        return len(self._queue) + len(self._inflight)

    @property
    def healthy(self) -> bool:
        """Up, nothing waiting in the spill file, and the drain task running."""
        running = self._task is not None and not self._task.done()
        return running and self.up and not self.spilling and not self.spill_failed

    async def start(self) -> None:
        self.spilling = self._spill.pending  # a previous process left lines to replay
        await self._ping()
        self._task = spawn(self._run(), name=f"audit-stream:{self._stream}")

    # -- hot path

    def put(self, line: bytes) -> None:
        if not self.spilling:
            if len(self._queue) + len(self._inflight) < self._queue_max:
                self._queue.append(line)
                self._wake.set()
                return
            self.spilling = True
            _log.warning("audit stream queue full; spilling to %s", self._spill.path)
        try:
            self._spill.append(line)
        except OSError:
            self.errors += 1
            self.spill_failed = True
            _log.exception("audit spill append failed: a record is missing from the stream")
            return
        self.spill_failed = False
        self.spilled += 1
        self._wake.set()

    # -- drain task

    async def _run(self) -> None:
        while not (self._stopping and self._idle()):
            try:
                await self._step()
            except Exception as exc:  # a bug or a spill read error: keep draining, visibly
                _log.exception("audit stream drain step failed")
                await self._failed(exc)

    def _idle(self) -> bool:
        return not (self._inflight or self._queue or self.spilling)

    async def _step(self) -> None:
        if self._inflight or self._queue:
            if not self._inflight:
                if self._linger and len(self._queue) < self._batch_max and not self._stopping:
                    # Let a batch gather: a script call costs the gateway's core ~150-400 µs
                    # whatever its size, so one per record would cost more than the record.
                    await asyncio.sleep(self._linger)
                n = min(len(self._queue), self._batch_max)
                self._inflight = [self._queue.popleft() for _ in range(n)]
            if await self._send(self._inflight):
                self._inflight = []
        elif self.spilling:
            await self._replay()
        elif not self._stopping:
            self._wake.clear()
            try:
                async with asyncio.timeout(self._heartbeat):
                    await self._wake.wait()
            except TimeoutError:
                await self._ping()

    async def _replay(self) -> None:
        offset, end = self._spill.window()
        if offset >= end:
            self.spilling = False  # caught up; checked with no await since the window
            self._spill.advance(end)
            _log.info("audit stream caught up with the spill file")
            return
        lines, after = await asyncio.to_thread(self._spill.read, offset, end, self._batch_max)
        if await self._send(lines):
            self._spill.advance(after)
            self.replayed += len(lines)

    async def _send(self, lines: list[bytes]) -> bool:
        args: list[bytes | int] = [self._maxlen or 0]
        args.extend(line[:-1] for line in lines)  # entries without the newline
        try:
            async with asyncio.timeout(self._timeout):
                await self._xadd_batch(keys=[self._stream], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            await self._failed(exc)
            return False
        self._recovered()
        self.sent += len(lines)
        return True

    async def _ping(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            await self._failed(exc, backoff=False)
            return
        self._recovered()

    async def _failed(self, exc: BaseException, *, backoff: bool = True) -> None:
        self.errors += 1
        if self.up:
            _log.warning("audit stream %s is down: %r", self._stream, exc)
        self.up = False
        if backoff:
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, _BACKOFF_MAX)

    def _recovered(self) -> None:
        if not self.up:
            _log.info("audit stream %s is up again", self._stream)
        self.up = True
        self._backoff = _BACKOFF_MIN

    # -- shutdown

    async def stop(self, timeout: float) -> bool:
        """Deliver what is pending within `timeout`; what is left moves to the spill file for
        the next process to replay. True if everything reached the stream."""
        self._stopping = True
        self._wake.set()
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait([task], timeout=timeout)
            if not done:
                task.cancel()
                await asyncio.wait([task], timeout=1.0)
        left = [*self._inflight, *self._queue]
        self._inflight, self._queue = [], deque()
        if left:
            self._spill.prepend(left)
            self.spilled += len(left)
            _log.warning("audit stream: %d records left in %s", len(left), self._spill.path)
        return not left and not self._spill.pending
