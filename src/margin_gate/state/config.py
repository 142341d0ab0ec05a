"""State settings: the `[state]` TOML section as one frozen value (docs/state.md lists the keys).

Built once by the settings loader and passed down; nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Literal

__all__ = ["Backend", "StateConfig"]

Backend = Literal[
    "memory",  # one process owns every account; state is lost on restart
    "redis",  # replicas share state through Redis; one replica (the lease holder) runs streams
]


@dataclass(frozen=True, slots=True)
class StateConfig:
    """How live account state is held, kept fresh and judged stale.

    backend / redis_url / key_prefix: where state lives; `key_prefix` names the deployment, so
        keys are `mg:{<key_prefix>:<account>}:<name>` (one hash slot per account).
    max_price_age_ms: a mark or asset index price older than this makes the account stale.
    max_account_age_ms: account data older than this is stale. A connected user stream keeps it
        fresh (every event, WebSocket pong and listenKey keepalive counts as a sync).
    reservation_ttl_ms: an in-flight reservation nothing confirmed is dropped after this.
    lease_ttl_ms: stream ownership lease (Redis); renewed every ttl/3, taken over on expiry.
    reconcile_interval_s: full REST reload that repairs drift (also after every reconnect).
    drift_bound: |gateway uniMMR / exchange uniMMR − 1| above this marks the account degraded.
    fail_closed_on_drift: a degraded account is also stale (risk-increasing orders refused).
    listen_key_keepalive_s: PUT /papi/v1/listenKey period (§4.1: 60 min validity).
    stream_rotate_s: reconnect the user stream before Binance's 24 h connection limit (§4.1).
    ws_ping_interval_s: our WebSocket ping period; a pong refreshes the account-sync time.
    backoff_initial_s / backoff_max_s: reconnect backoff (exponential, full jitter).
    asset_index_interval_s: REST poll of /sapi/v1/portfolio/asset-index-price (no stream).
    price_rest_interval_s: REST premiumIndex poll while the mark price stream is down.
    user_stream_url / market_stream_url: WebSocket bases; None derives them from the papi/fapi
        upstream (http→ws), which is right for the paper exchange. Binance: wss://fstream.binance.com
        for both (user stream at `<base>/pm/ws/<key>`, marks at `<base>/market/stream?streams=`).
    market_stream_path: "/market/stream" (Binance's routed URL since 2026, §4.3) or "/stream".
    http_timeout_s: per REST call.
    """

    backend: Backend = "memory"
    redis_url: str | None = None
    key_prefix: str = "mg"
    max_price_age_ms: int = 5000
    max_account_age_ms: int = 60_000
    reservation_ttl_ms: int = 30_000
    lease_ttl_ms: int = 5000
    reconcile_interval_s: float = 60.0
    drift_bound: Decimal = Decimal("0.01")
    fail_closed_on_drift: bool = False
    listen_key_keepalive_s: float = 1800.0
    stream_rotate_s: float = 23 * 3600.0
    ws_ping_interval_s: float = 10.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 30.0
    asset_index_interval_s: float = 1.0
    price_rest_interval_s: float = 1.0
    user_stream_url: str | None = None
    market_stream_url: str | None = None
    market_stream_path: str = "/market/stream"
    http_timeout_s: float = 10.0
    mark_stream_suffix: str = "@markPrice@1s"
    extra_symbols: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError('state.redis_url: required when backend = "redis"')
        for name in (
            "max_price_age_ms",
            "max_account_age_ms",
            "reservation_ttl_ms",
            "lease_ttl_ms",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"state.{name}: must be > 0")
        if self.drift_bound < 0:
            raise ValueError("state.drift_bound: must be >= 0")
