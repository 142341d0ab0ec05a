"""A gateway-like OS process for the race test: real Redis store + margin engine projection.

    python -m tests.integration.state.race_worker <redis_url> <key_prefix> <worker id>

Takes round descriptions from the Redis list `race:<prefix>:jobs:<id>` (JSON: account, qty,
floor, bots, start_at ms) and pushes each round's verdicts to `race:<prefix>:results`.
`{"stop": true}` ends it."""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal

import orjson
import redis.asyncio as aioredis

from margin_gate.clock import SystemClock
from margin_gate.state.config import StateConfig
from margin_gate.state.redis_store import RedisStore
from tests.integration.state.gatelike import check_and_reserve


async def run_round(
    url: str, prefix: str, worker: str, job: dict[str, object]
) -> dict[str, object]:
    cfg = StateConfig(
        backend="redis",
        redis_url=url,
        key_prefix=prefix,
        max_price_age_ms=600_000,
        max_account_age_ms=600_000,
        reservation_ttl_ms=600_000,
    )
    store = RedisStore(cfg, SystemClock())
    account = str(job["account"])
    await store.start([account])
    try:
        deadline = time.monotonic() + 10
        while store.view(account).stale_reason is not None:
            if time.monotonic() > deadline:
                return {"worker": worker, "error": store.view(account).stale_reason}
            await asyncio.sleep(0.005)
        await asyncio.sleep(max(int(job["start_at"]) - time.time() * 1000, 0) / 1000)  # type: ignore[call-overload]
        params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": str(job["qty"])}
        floor = Decimal(str(job["floor"]))
        verdicts = await asyncio.gather(
            *(
                check_and_reserve(store, account, params, f"w{worker}b{i}", floor)
                for i in range(int(job["bots"]))  # type: ignore[call-overload]
            )
        )
        return {"worker": worker, "verdicts": list(verdicts), "conflicts": store.conflicts}
    finally:
        await store.aclose()


async def main(url: str, prefix: str, worker: str) -> None:
    client = aioredis.from_url(url, socket_timeout=None)  # BLPOP waits longer than 5 s
    try:
        while True:
            popped = await client.blpop([f"race:{prefix}:jobs:{worker}"])
            assert popped is not None  # no timeout given: BLPOP waits
            job = orjson.loads(popped[1])
            if job.get("stop"):
                return
            result = await run_round(url, prefix, worker, job)
            await client.rpush(f"race:{prefix}:results", orjson.dumps(result))
    finally:
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
