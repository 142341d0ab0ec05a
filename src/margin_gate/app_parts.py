"""The lifespan's pieces for the order path: settings → StateConfig / AuditConfig, starting
the state runtime, audit log, halts and the `RiskGate`, the closers of everything started
(`Closers`, run in `CLOSE_ORDER` at shutdown), plus config reload checks."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp

from margin_gate.audit import AuditConfig
from margin_gate.audit import AuditLog
from margin_gate.clock import Clock
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.policy.profile import EffectiveProfile
from margin_gate.policy.profile import effective_profiles
from margin_gate.policy.profile import engine_settings
from margin_gate.proxy.gate_audit import GateAudit
from margin_gate.proxy.halts import HaltStore
from margin_gate.proxy.halts import MemoryHalts
from margin_gate.proxy.halts import RedisHalts
from margin_gate.proxy.risk_gate import RiskGate
from margin_gate.settings import ConfigError
from margin_gate.settings import Settings
from margin_gate.state.config import StateConfig
from margin_gate.state.redis_keys import connect
from margin_gate.state.runtime import ExchangeKey
from margin_gate.state.runtime import StateRuntime

_log = logging.getLogger("margin_gate.app")
READY_TIMEOUT_S = 10.0

__all__ = [
    "CLOSE_ORDER",
    "Closers",
    "RiskParts",
    "audit_config",
    "check_reload",
    "start_risk",
    "state_config",
]

# Shutdown order (name, timeout s), after the in-flight requests have drained: stop the halts
# and the state runtime (streams stop, the Redis stream lease is released so another replica
# takes the account at once, in-flight reservations stay in Redis until the stream or their
# TTL settles them), then close the audit log (drain its stream queue, spill the rest, final
# fsync) before the clients it and the state used, the upstream client, Redis, the session.
CLOSE_ORDER: tuple[tuple[str, float], ...] = (
    ("halts", 2.0),
    ("state", 6.0),
    ("audit", 6.0),
    ("upstream", 2.0),
    ("redis", 2.0),
    ("session", 2.0),
    ("paper", 5.0),
)


class Closers:
    """The lifespan's closers, by name, each run at most once: at shutdown by the ops
    `ShutdownSequence` in `CLOSE_ORDER` (bounded, logged), and by the exit stack in reverse
    start order for whatever has not run (a failed start-up, a step the budget skipped)."""

    def __init__(self, stack: AsyncExitStack) -> None:
        self._stack = stack
        self.closers: dict[str, Callable[[], Awaitable[Any]]] = {}

    def add(self, name: str, close: Callable[[], Awaitable[Any]]) -> None:
        done = False

        async def once() -> None:
            nonlocal done
            if not done:
                done = True
                await close()

        self._stack.push_async_callback(once)
        self.closers[name] = once

    def schedule(self, shutdown: Any, order: Iterable[tuple[str, float]]) -> None:
        """Register the closers on `shutdown` (ops/shutdown.py `ShutdownSequence`) in `order`."""
        for name, timeout_s in order:
            close = self.closers.get(name)
            if close is not None:
                shutdown.add(name, close, timeout_s=timeout_s)


def replica_name(settings: Settings) -> str:
    return settings.audit.replica or f"{socket.gethostname()}-{os.getpid()}"


def state_config(settings: Settings) -> StateConfig:
    s = settings.state
    try:
        options: dict[str, Any] = dict(s.options)
        return StateConfig(
            backend=s.backend, redis_url=s.redis_url, key_prefix=s.key_prefix, **options
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"state: {exc}") from None


def audit_config(settings: Settings) -> AuditConfig | None:
    a = settings.audit
    if not a.enabled:
        return None
    options: dict[str, Any] = dict(a.options)
    if options.get("rotate_interval_s") == 0:
        options["rotate_interval_s"] = None
    if options.get("stream_maxlen") == 0:
        options["stream_maxlen"] = None
    try:
        return AuditConfig(replica=replica_name(settings), dir=a.dir, stream=a.stream, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"audit: {exc}") from None


@dataclass
class RiskParts:
    gate: RiskGate
    audit: GateAudit
    halts: HaltStore
    runtime: StateRuntime
    engine: ProjectionSettings
    redis: Any  # redis.asyncio client shared by the replay guard, halts and audit stream


async def start_risk(
    closers: Closers, settings: Settings, bases: dict[str, str], clock: Clock
) -> RiskParts:
    """Start audit, state and halts for the RiskGate; each registers its closer."""
    profiles = effective_profiles(settings)
    engine = engine_settings(profiles)
    state_cfg = state_config(settings)
    audit_cfg = audit_config(settings)
    session = aiohttp.ClientSession()
    closers.add("session", session.close)
    redis = None
    if state_cfg.backend == "redis" or (audit_cfg is not None and audit_cfg.stream):
        url = state_cfg.redis_url
        if url is None:
            raise ConfigError('audit.stream: needs [state] redis_url (and backend = "redis")')
        redis = connect(url)
        closers.add("redis", redis.aclose)
    log = None
    if audit_cfg is not None:
        log = AuditLog(audit_cfg, redis=redis if audit_cfg.stream else None, clock=clock)
        await log.start()
        closers.add("audit", log.close)  # closed after the state and the gate
    audit = GateAudit(log, passthrough=settings.audit.passthrough)
    keys = {name: ExchangeKey(a.api_key.text(), a.signer) for name, a in settings.accounts.items()}
    runtime = StateRuntime(
        state_cfg, clock, session=session, bases=bases, accounts=keys, settings=engine
    )
    await runtime.start()
    closers.add("state", runtime.stop)
    await _wait_fresh(runtime, settings, clock)
    halts: HaltStore = MemoryHalts()
    if redis is not None and state_cfg.backend == "redis":
        halts = RedisHalts(redis, f"{state_cfg.key_prefix}:halts")
    await halts.start()
    closers.add("halts", halts.stop)
    gate = RiskGate(runtime.store, profiles, halts, audit)
    return RiskParts(gate, audit, halts, runtime, engine, redis)


async def _wait_fresh(runtime: StateRuntime, settings: Settings, clock: Clock) -> None:
    """Give each account's state up to READY_TIMEOUT_S to become fresh before serving (orders
    are refused as stale meanwhile anyway; this only spares bots a burst of -2010 at boot)."""
    deadline = clock.monotonic() + READY_TIMEOUT_S
    for name in settings.accounts:
        while runtime.store.view(name).stale_reason is not None:
            if clock.monotonic() > deadline:
                reason = runtime.store.view(name).stale_reason
                _log.warning("account %s not fresh after start-up: %s", name, reason)
                break
            await asyncio.sleep(0.02)


def check_reload(
    old: Settings, new: Settings, running: ProjectionSettings
) -> dict[str, EffectiveProfile]:
    """The new effective profiles, or ConfigError when the reload needs a restart."""
    for section in ("upstream", "state", "audit", "auth", "operator"):
        if getattr(new, section) != getattr(old, section):
            raise ConfigError(f"{section}: a reload cannot change [{section}]; restart instead")
    if new.server.max_body_bytes != old.server.max_body_bytes:
        raise ConfigError("server: a reload cannot change [server]; restart instead")
    if set(new.accounts) != set(old.accounts):
        raise ConfigError("accounts: a reload cannot add or remove accounts; restart instead")
    for name, acct in new.accounts.items():
        was = old.accounts[name]
        if (acct.key_kind, acct.api_key) != (was.key_kind, was.api_key):
            raise ConfigError(f"accounts.{name}: a reload cannot change keys; restart instead")
    profiles = effective_profiles(new)
    engine = engine_settings(profiles)
    if engine.market_slippage > running.market_slippage or (
        engine.include_resting_orders and not running.include_resting_orders
    ):
        raise ConfigError(
            "profiles: a larger market_slippage or include_resting_orders = true than the "
            f"running engine ({running.market_slippage}, {running.include_resting_orders}) "
            "needs a restart"
        )
    return profiles
