"""Settings values: frozen dataclasses, `Secret` (masked key material) and `ConfigError`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from margin_gate.auth.signing import KeyKind
from margin_gate.auth.signing import Signer
from margin_gate.auth.signing import Verifier

__all__ = [
    "API_KEY_PATTERN",
    "DEFAULT_UPSTREAMS",
    "KEY_KINDS",
    "Account",
    "AuditSettings",
    "AuthSettings",
    "BotSettings",
    "ConditionalMode",
    "ConfigError",
    "OperatorSettings",
    "PolicySettings",
    "Profile",
    "Secret",
    "ServerSettings",
    "Settings",
    "StateBackend",
    "StateSettings",
    "UpstreamClient",
    "UpstreamSettings",
    "UpstreamTarget",
    "mask",
]

# Binance path prefixes and their production hosts (binance-pm.md §0.1, §2.1; clients.md).
DEFAULT_UPSTREAMS: Mapping[str, str] = MappingProxyType(
    {
        "papi": "https://papi.binance.com",
        "fapi": "https://fapi.binance.com",
        "dapi": "https://dapi.binance.com",
        "api": "https://api.binance.com",
        "sapi": "https://api.binance.com",
    }
)
# What an API key looks like to us; anything else is -2014 "API-key format invalid" (§3.6).
API_KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-]{8,128}")
KEY_KINDS: tuple[KeyKind, ...] = ("hmac", "ed25519", "rsa")

UpstreamTarget = Literal[
    "binance",  # the per-prefix URLs in [upstream.urls] (Binance's hosts unless overridden)
    "paper",  # the bundled paper exchange, started in-process; every prefix routes to it
]
UpstreamClient = Literal[
    "h1",  # margin-gate's own keep-alive HTTP/1.1 client (proxy/h1.py): fastest measured
    "aiohttp",  # aiohttp's ClientSession (proxy/upstream.py)
]
StateBackend = Literal[
    "memory",  # one process; state is lost on restart
    "redis",  # shared by replicas through [state] redis_url
]


class ConfigError(ValueError):
    """A bad configuration; the message starts with the dotted key it is about."""


def mask(value: str | bytes | None) -> str:
    """A loggable stand-in for key material: at most the first 4 characters of a long key."""
    if not value:
        return "<empty>"
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if len(text) < 16 or "-----BEGIN" in text:
        return "***"
    return f"{text[:4]}***"


@dataclass(frozen=True, slots=True, repr=False)
class Secret:
    """Key material read from the environment or a file. Never printed: see `mask`."""

    value: bytes
    source: str  # "env:NAME", "file:PATH" or "inline" (API keys only); safe to log

    def text(self) -> str:
        return self.value.decode("ascii")

    def __repr__(self) -> str:
        return f"Secret({self.source}, ***)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 64 * 1024
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = False
    log_format: Literal["json", "text"] = "json"  # event lines on stderr
    request_log: bool = True  # one JSON line per request (ops/logging.py RequestLogger)
    drain_s: float = 15.0  # SIGTERM: time for in-flight requests (uvicorn graceful shutdown)
    shutdown_timeout_s: float = 25.0  # SIGTERM: the process exits within this, whatever hangs
    ops_allow: tuple[str, ...] | None = None  # networks allowed on /healthz /readyz /metrics


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    target: UpstreamTarget = "binance"
    client: UpstreamClient = "h1"
    # path prefix (no slashes) -> base URL
    urls: Mapping[str, str] = field(default_factory=lambda: DEFAULT_UPSTREAMS)
    paper_state: Path = Path("config/paper-state.json")
    connect_timeout_s: float = 2.0
    timeout_s: float = 10.0
    pool_size: int = 100
    keepalive_s: float = 15.0


@dataclass(frozen=True, slots=True)
class AuthSettings:
    replay_protection: bool = True
    replay_max_entries: int = 1_000_000


@dataclass(frozen=True, slots=True)
class Account:
    """An exchange account: the only holder of the real Binance key."""

    name: str
    key_kind: KeyKind
    api_key: Secret
    signer: Signer = field(repr=False)
    profile: str | None = None  # the account's [profiles.<name>]; bots can only be stricter


@dataclass(frozen=True, slots=True)
class BotSettings:
    """A bot's gateway identity: its key, how it signs, and what it may do."""

    name: str
    api_key: Secret
    key_kind: KeyKind
    verifier: Verifier = field(repr=False)
    account: str = "main"
    profile: str = "default"
    allow_endpoints: tuple[str, ...] | None = None  # None: every endpoint
    allow_money_out: bool = False


ConditionalMode = Literal[
    "project",  # conditional/algo orders are projected as if triggered and filled
    "reduce_only",  # conditional/algo orders must be reduceOnly or closePosition
]


@dataclass(frozen=True, slots=True)
class Profile:
    """A policy profile as configured: None means "not set here" (the merge in
    policy/profile.py fills defaults and takes the stricter of account and bot profiles)."""

    name: str
    min_unimmr_after: Decimal | None = None  # > 1.20; default 1.5 when nobody sets it
    warn_unimmr_below: Decimal | None = None  # accepted but flagged (decision "warn")
    market_slippage: Decimal | None = None  # fraction, [0, 1)
    include_resting_orders: bool | None = None
    conditional_mode: ConditionalMode | None = None
    max_order_notional: Decimal | None = None  # USD
    price_collar_bps: Decimal | None = None  # limit price vs mark
    allowed_symbols: frozenset[str] | None = None  # upper-case symbols
    allowed_endpoints: tuple[str, ...] | None = None  # "[METHOD ]/path[*]" patterns
    allow_manual_liquidation: bool | None = None
    allow_money_out: bool | None = None


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """`[policy] enforce = false` runs the forwarding layer alone (no checks, no state, no
    audit): for benchmarks and tests of the proxy only; start-up logs a warning."""

    enforce: bool = True


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """The operator API's bearer token (None: the operator API answers 401 to everything)."""

    token: Secret | None = None


@dataclass(frozen=True, slots=True)
class StateSettings:
    """`[state]`; the keys beyond backend/redis_url/key_prefix map 1:1 onto StateConfig."""

    backend: StateBackend = "memory"
    redis_url: str | None = None
    key_prefix: str = "mg"
    options: Mapping[str, object] = field(default_factory=dict)  # other StateConfig fields


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """`[audit]`: `dir` / `stream` are the sinks (none: no audit); the rest maps onto
    AuditConfig. `passthrough` also records pass-through reads (decision "pass")."""

    dir: Path | None = None
    stream: str | None = None
    replica: str | None = None  # default: host:pid
    passthrough: bool = False
    options: Mapping[str, object] = field(default_factory=dict)  # other AuditConfig fields

    @property
    def enabled(self) -> bool:
        return self.dir is not None or self.stream is not None


@dataclass(frozen=True, slots=True)
class Settings:
    accounts: Mapping[str, Account]
    bots: Mapping[str, BotSettings]
    profiles: Mapping[str, Profile]
    server: ServerSettings = ServerSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    auth: AuthSettings = AuthSettings()
    state: StateSettings = StateSettings()
    audit: AuditSettings = AuditSettings()
    operator: OperatorSettings = OperatorSettings()
    policy: PolicySettings = PolicySettings()
    source: Path | None = None

    def with_server(self, *, host: str | None = None, port: int | None = None) -> Settings:
        """A copy with the command line's --host/--port applied."""
        server = replace(
            self.server,
            host=host if host is not None else self.server.host,
            port=port if port is not None else self.server.port,
        )
        return replace(self, server=server)
