"""Bot authentication as Binance does it: API key, signature, timing, plus replay refusal.

Order of checks (binance-pm.md §3.1, §3.3, §3.6):
1. `X-MBX-APIKEY` missing or malformed -> -2014 (HTTP 401); unknown -> -2015 (HTTP 401).
   The key is looked up by its SHA-256 and then compared in constant time.
2. `timestamp` missing/malformed -> -1102; `recvWindow` > 60000 -> -1131; outside the window or
   >= 1000 ms ahead -> -1021.
3. `signature` missing -> -1102; wrong -> -1022 (HMAC compared in constant time).
4. The same signature again on the same endpoint (method and path) while its request is still
   inside its window -> -1021 with an explanation (Binance would accept it; we do not). The
   usual client reaction to -1021, a fresh timestamp, is exactly what makes the retry
   acceptable. The same parameters on another endpoint in the same millisecond (query an order,
   then cancel it) are two requests, not a replay.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import re
from collections.abc import Awaitable
from collections.abc import Coroutine
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from margin_gate.auth.replay import ReplayGuard
from margin_gate.auth.replay import ReplayGuardFull
from margin_gate.auth.signing import DEFAULT_RECV_WINDOW_MS
from margin_gate.auth.signing import Verifier
from margin_gate.auth.signing import check_timing
from margin_gate.settings import API_KEY_PATTERN
from margin_gate.settings import BotSettings
from margin_gate.settings import Profile
from margin_gate.wire.errors import BAD_API_KEY_FMT
from margin_gate.wire.errors import INVALID_SIGNATURE
from margin_gate.wire.errors import INVALID_TIMESTAMP
from margin_gate.wire.errors import MANDATORY_PARAM
from margin_gate.wire.errors import REJECTED_MBX_KEY
from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params

__all__ = ["REPLAYED", "THROTTLED", "AllowList", "Bot", "BotAuth", "ReplayCheck", "auth_rule"]

MISSING_SIGNATURE = MANDATORY_PARAM.with_msg(
    "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
)
REPLAYED = INVALID_TIMESTAMP.with_msg(
    "margin-gate: this signature was already used (replayed request); "
    "sign the request again with a fresh timestamp."
)
# The replay guard is full: refuse rather than forget (fail closed). Binance's -1008 shape.
THROTTLED = BinanceError(
    -1008, "Request throttled by system-level protection (margin-gate replay cache full).", 503
)
_AUTH_RULES = {-2014: "auth.api_key", -2015: "auth.api_key", -1022: "auth.signature"}
_AUTH_RULES |= {-1021: "auth.timestamp", -1102: "auth.params", -1131: "auth.recv_window"}
_KEY_BYTES = re.compile(API_KEY_PATTERN.pattern.encode("ascii"))


class AllowList:
    """Patterns `[METHOD ]/path[*]` from `bots.<name>.allow_endpoints`, matched case-blind."""

    def __init__(self, patterns: Iterable[str]) -> None:
        rules: list[tuple[str | None, re.Pattern[str]]] = []
        for pattern in patterns:
            method, _, path = pattern.rpartition(" ")
            regex = re.compile(fnmatch.translate(path.lower()))
            rules.append((None if method in ("", "*") else method, regex))
        self._rules = tuple(rules)

    def allows(self, method: str, path: str) -> bool:
        lowered = path.lower()
        return any((m is None or m == method) and regex.match(lowered) for m, regex in self._rules)


@dataclass(frozen=True, slots=True)
class Bot:
    """An authenticated bot, as the gate and the audit see it."""

    name: str
    account: str
    profile: str
    allow_money_out: bool
    allow: AllowList | None = field(repr=False, compare=False)
    verifier: Verifier = field(repr=False, compare=False)
    api_key: bytes = field(repr=False, compare=False)

    def may_call(self, method: str, path: str) -> bool:
        return self.allow is None or self.allow.allows(method, path)


class BotAuth:
    """Maps gateway keys to bots and verifies their signed requests."""

    def __init__(
        self,
        bots: Iterable[BotSettings],
        profiles: Mapping[str, Profile],
        replay: ReplayGuard,
    ) -> None:
        self._by_digest: dict[bytes, Bot] = {}
        for b in bots:
            profile = profiles.get(b.profile)
            bot = Bot(
                name=b.name,
                account=b.account,
                profile=b.profile,
                allow_money_out=b.allow_money_out or bool(profile and profile.allow_money_out),
                allow=None if b.allow_endpoints is None else AllowList(b.allow_endpoints),
                verifier=b.verifier,
                api_key=b.api_key.value,
            )
            self._by_digest[hashlib.sha256(bot.api_key).digest()] = bot
        self._replay = replay

    def identify(self, api_key: bytes | None) -> Bot | BinanceError:
        """The bot behind an `X-MBX-APIKEY` header value (§3.6: -2014, -2015)."""
        if not api_key or not _KEY_BYTES.fullmatch(api_key):
            return BAD_API_KEY_FMT
        bot = self._by_digest.get(hashlib.sha256(api_key).digest())
        if bot is None or not hmac.compare_digest(bot.api_key, api_key):
            return REJECTED_MBX_KEY
        return bot

    async def verify(
        self, bot: Bot, params: Params, now_ms: int, endpoint: str = ""
    ) -> BinanceError | None:
        """Timing, signature and replay checks for a signed request; None when it passes."""
        started = self.begin_verify(bot, params, now_ms, endpoint)
        if isinstance(started, BinanceError):
            return started
        return await started.answer()

    def begin_verify(
        self, bot: Bot, params: Params, now_ms: int, endpoint: str = ""
    ) -> BinanceError | ReplayCheck:
        """Timing and signature checked now; the replay check started (the Redis guard's
        SET NX is on its way) and answered by `ReplayCheck.answer()`, which the caller must
        await before the request has any effect upstream. The order path awaits it after its
        reservation's round trip, so an order waits for one round trip instead of two."""
        timestamp = params.get("timestamp")
        recv_window = params.get("recvWindow")
        error = check_timing(timestamp, recv_window, now_ms)
        if error is not None:
            return error
        signature = params.signature
        if not signature:
            return MISSING_SIGNATURE
        if not bot.verifier.verify(params.signed_payload, signature):
            return INVALID_SIGNATURE
        # check_timing accepted both, so they parse.
        window = _ms(recv_window) if recv_window else DEFAULT_RECV_WINDOW_MS
        expires = _ms(timestamp or "0") + window + 1
        key = signature.lower() if bot.verifier.kind == "hmac" else signature
        # `endpoint` ("METHOD /path") is part of the key: a bot that queries an order and then
        # cancels it within one millisecond sends the same parameters, hence the same
        # signature, twice — two requests, not a replay (Binance's signature does not cover
        # the method or path). The same signature on the same endpoint is a replay.
        return ReplayCheck(self._replay.begin(f"{bot.name}:{endpoint}:{key}", expires, now_ms))


def auth_rule(error: BinanceError) -> str:
    """The audit/metrics rule of an authentication refusal."""
    if error is REPLAYED:
        return "auth.replay"
    if error is THROTTLED:
        return "auth.replay_cache_full"
    return _AUTH_RULES.get(error.code, "auth")


class ReplayCheck:
    """A started replay check; `answer()` may be awaited any number of times (the first await
    runs it): None for a first use, REPLAYED, or THROTTLED when the guard cannot record it."""

    __slots__ = ("_answer", "_pending")

    def __init__(self, pending: Awaitable[bool]) -> None:
        self._pending: Awaitable[bool] | None = pending
        self._answer: BinanceError | None = None

    async def answer(self) -> BinanceError | None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            try:
                self._answer = None if await pending else REPLAYED
            except ReplayGuardFull:
                self._answer = THROTTLED
        return self._answer

    def discard(self) -> None:
        """The request ended before its answer was awaited (a hook raised, a cancellation):
        drop it without a "never awaited" or "exception never retrieved" warning. The key
        may or may not be recorded; the request was not forwarded."""
        pending, self._pending = self._pending, None
        if isinstance(pending, Coroutine):
            pending.close()
        elif isinstance(pending, asyncio.Future):
            pending.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[bool]) -> None:
    if not future.cancelled():
        future.exception()


def _ms(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() else int(Decimal(text))
