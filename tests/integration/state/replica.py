"""A gateway replica for the lease tests: the state runtime on Redis, syncing account "main"
from the paper exchange when it holds the lease; prints `REPLICA <id>` once started.

    python -m tests.integration.state.replica <redis_url> <key_prefix> <paper_url> <lease_ms>
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from margin_gate.clock import SystemClock
from margin_gate.state.config import StateConfig
from margin_gate.state.runtime import StateRuntime
from tests.integration.state.support import FAST
from tests.integration.state.support import bases
from tests.integration.state.support import key


async def main(redis_url: str, prefix: str, paper_url: str, lease_ms: int) -> None:
    cfg = StateConfig(
        backend="redis", redis_url=redis_url, key_prefix=prefix, lease_ttl_ms=lease_ms, **FAST
    )
    async with aiohttp.ClientSession() as session:
        rt = StateRuntime(
            cfg, SystemClock(), session=session, bases=bases(paper_url), accounts={"main": key()}
        )
        await rt.start()
        print(f"REPLICA {rt.replica}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await rt.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
