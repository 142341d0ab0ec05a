"""Redis key layout and connection URLs for the shared state (docs/state.md "Key layout").

Every key of one account carries the hash tag `{<deployment>:<account>}`, so all of them live in
one Redis Cluster slot and one Lua script may touch them together:

    mg:{<dep>:<acct>}:data           hash    account data, one field per entry (serial.data_fields)
    mg:{<dep>:<acct>}:static         string  static market data JSON (instruments, brackets, ...)
    mg:{<dep>:<acct>}:meta           hash    v (data version), dt (its random token),
                                             iv (in-flight version), f1 f2 (in-flight fingerprint)
    mg:{<dep>:<acct>}:inflight       hash    reservation id → reservation JSON
    mg:{<dep>:<acct>}:inflight:exp   zset    reservation id → expiry (epoch ms)
    mg:{<dep>:<acct>}:inflight:ix    hash    reservation id → "<nonce hi> <nonce lo> <match key>"
    mg:{<dep>:<acct>}:inflight:mk    hash    match key (c:<clientId>, l:<asset>) → JSON list of ids
    mg:{<dep>:<acct>}:prices         hash    m:<symbol> / x:<asset> → "<price>|<recv ms>";
                                             h → stream health JSON
    mg:{<dep>:<acct>}:lease          string  stream owner's replica id (SET NX PX)
    mg:{<dep>:<acct>}:notify         channel change notifications (JSON)

URLs: `redis://`, `rediss://`, `unix://` as redis-py reads them; `redis+sentinel://[:password@]
host:port[,host:port...]/<service>[/<db>]` for Sentinel; `redis+cluster://host:port` for Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

__all__ = ["AccountKeys", "connect"]

BAD_SENTINEL = "sentinel URL needs redis+sentinel://host:port[,host:port]/<service>[/<db>]: {url}"


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The keys of one account (see module docstring)."""

    data: str
    static: str
    meta: str
    inflight: str
    expiry: str
    index: str
    match: str
    prices: str
    lease: str
    channel: str

    @property
    def reservations(self) -> list[str]:
        """The KEYS every reservation script starts with (redis_scripts)."""
        return [self.meta, self.inflight, self.expiry, self.index, self.match]

    @classmethod
    def of(cls, deployment: str, account: str) -> AccountKeys:
        base = f"mg:{{{deployment}:{account}}}"
        return cls(
            f"{base}:data",
            f"{base}:static",
            f"{base}:meta",
            f"{base}:inflight",
            f"{base}:inflight:exp",
            f"{base}:inflight:ix",
            f"{base}:inflight:mk",
            f"{base}:prices",
            f"{base}:lease",
            f"{base}:notify",
        )


def connect(url: str, **options: Any) -> Any:
    """A `redis.asyncio` client for `url` (plain, Sentinel master, or Cluster)."""
    parts = urlsplit(url)
    if parts.scheme == "redis+sentinel":
        hosts = []
        for item in parts.netloc.rsplit("@", 1)[-1].split(","):
            host, _, port = item.partition(":")
            hosts.append((host, int(port or 26379)))
        path = [p for p in parts.path.split("/") if p]
        if not hosts or not path:
            raise ValueError(BAD_SENTINEL.format(url=url))
        password = unquote(parts.password) if parts.password else None
        db = int(path[1]) if len(path) > 1 else 0
        sentinel = Sentinel(hosts, password=password, db=db, **options)  # type: ignore[no-untyped-call]
        return sentinel.master_for(path[0])
    if parts.scheme == "redis+cluster":
        return RedisCluster.from_url("redis://" + url.split("://", 1)[1], **options)
    return aioredis.from_url(url, **options)
