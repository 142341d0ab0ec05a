"""Child process for the crash test: writes a burst through AuditLog and acknowledges each
record's seq on stdout right after `write` returns, as the gateway answers a bot."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from redis.asyncio import Redis

from margin_gate.audit import AuditConfig
from margin_gate.audit import AuditLog
from tests.unit.audit.builders import decision
from tests.unit.audit.builders import outcome


async def main(directory: Path, total: int, redis_url: str | None, stream: str | None) -> None:
    client = Redis.from_url(redis_url) if redis_url else None
    config = AuditConfig(
        replica="crash",
        dir=directory,
        max_bytes=64 * 1024,
        fsync_interval_ms=50,
        stream=stream,
    )
    log = AuditLog(config, redis=client)
    await log.start()
    os.write(1, b"ready\n")
    for i in range(total):
        rec = decision(i) if i % 2 == 0 else outcome(i)
        log.write(rec)
        os.write(1, b"%d\n" % rec["seq"])  # the "response" that reaches the bot
        if i % 64 == 0:
            await asyncio.sleep(0)
    await log.close()


if __name__ == "__main__":
    url, key = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 3 else (None, None)
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), url, key))
