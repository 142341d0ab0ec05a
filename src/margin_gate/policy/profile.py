"""Effective profiles: what a bot is held to, and the margin engine's settings per process.

A bot's effective profile is the stricter of its account's profile and its own, field by field:
the higher uniMMR floor and warning level, the larger slippage, resting orders counted if either
says so, conditional orders reduce-only if either says so, the smaller notional cap and collar,
the intersection of allow-lists, and each `allow_*` flag only if both allow (a field nobody sets
takes the default below). settings/profiles.py has already refused a bot profile that sets a
field looser than its account's.

The margin engine binds one `ProjectionSettings` per live account aggregate (the state layer
builds one per process), so `engine_settings` takes the strictest value of every profile in use
(largest slippage, resting orders if any profile counts them, the highest floor as the pending
side rule's buffer): no bot is ever projected looser than its own profile says. Conditional
mode is applied per bot by the policy instead (the engine runs in "project" mode).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from margin_gate.margin.settings import ProjectionSettings
from margin_gate.settings.model import ConditionalMode
from margin_gate.settings.model import Profile
from margin_gate.settings.model import Settings

__all__ = [
    "DEFAULT_FLOOR",
    "DEFAULT_SLIPPAGE",
    "EffectiveProfile",
    "effective_profiles",
    "engine_settings",
    "merge",
]

DEFAULT_FLOOR = Decimal("1.5")
DEFAULT_SLIPPAGE = Decimal("0.005")
_BPS = Decimal(10_000)


class EndpointRules:
    """Allow-lists of `[METHOD ]/path[*]` patterns; a call passes when every list allows it."""

    __slots__ = ("_lists",)

    def __init__(self, lists: Iterable[tuple[str, ...]]) -> None:
        compiled = []
        for patterns in lists:
            rules = []
            for pattern in patterns:
                method, _, path = pattern.rpartition(" ")
                regex = re.compile(fnmatch.translate(path.lower()))
                rules.append((None if method in ("", "*") else method, regex))
            compiled.append(tuple(rules))
        self._lists = tuple(compiled)

    def allows(self, method: str, path: str) -> bool:
        lowered = path.lower()
        return all(
            any((m is None or m == method) and r.match(lowered) for m, r in rules)
            for rules in self._lists
        )

    def __bool__(self) -> bool:
        return bool(self._lists)


@dataclass(frozen=True, slots=True)
class EffectiveProfile:
    """What one bot is held to (defaults filled in). `names` says where it came from."""

    names: tuple[str, ...]
    min_unimmr_after: Decimal = DEFAULT_FLOOR
    warn_unimmr_below: Decimal | None = None
    market_slippage: Decimal = DEFAULT_SLIPPAGE
    include_resting_orders: bool = True
    conditional_mode: ConditionalMode = "project"
    max_order_notional: Decimal | None = None
    price_collar_bps: Decimal | None = None
    allowed_symbols: frozenset[str] | None = None
    endpoints: EndpointRules | None = None
    allow_manual_liquidation: bool = False
    allow_money_out: bool = False

    # price_collar_bps as a fraction, computed once (read on every order)
    collar_fraction: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bps = self.price_collar_bps
        object.__setattr__(self, "collar_fraction", None if bps is None else bps / _BPS)

    def allows_endpoint(self, method: str, path: str) -> bool:
        return self.endpoints is None or self.endpoints.allows(method, path)

    def allows_symbol(self, symbol: str) -> bool:
        return self.allowed_symbols is None or symbol in self.allowed_symbols


def _max(values: Iterable[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _min(values: Iterable[Decimal | None]) -> Decimal | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def merge(profiles: Iterable[Profile], *, bot_money_out: bool = False) -> EffectiveProfile:
    """The stricter of `profiles` on every field, defaults filled in."""
    ps = list(profiles)
    symbol_sets = [p.allowed_symbols for p in ps if p.allowed_symbols is not None]
    endpoint_lists = [p.allowed_endpoints for p in ps if p.allowed_endpoints is not None]
    resting = [p.include_resting_orders for p in ps if p.include_resting_orders is not None]
    manual = [p.allow_manual_liquidation for p in ps if p.allow_manual_liquidation is not None]
    money = [p.allow_money_out for p in ps if p.allow_money_out is not None]
    symbols = None
    if symbol_sets:
        symbols = frozenset.intersection(*symbol_sets)
    return EffectiveProfile(
        names=tuple(p.name for p in ps),
        min_unimmr_after=_max(p.min_unimmr_after for p in ps) or DEFAULT_FLOOR,
        warn_unimmr_below=_max(p.warn_unimmr_below for p in ps),
        market_slippage=_max(p.market_slippage for p in ps) or DEFAULT_SLIPPAGE,
        include_resting_orders=any(resting) if resting else True,
        conditional_mode=(
            "reduce_only" if any(p.conditional_mode == "reduce_only" for p in ps) else "project"
        ),
        max_order_notional=_min(p.max_order_notional for p in ps),
        price_collar_bps=_min(p.price_collar_bps for p in ps),
        allowed_symbols=symbols,
        endpoints=EndpointRules(endpoint_lists) if endpoint_lists else None,
        allow_manual_liquidation=bool(manual) and all(manual),
        # money-out: granted by the bot table or a profile, unless some profile says no
        allow_money_out=(bot_money_out or True in money) and False not in money,
    )


def effective_profiles(settings: Settings) -> dict[str, EffectiveProfile]:
    """Every bot's effective profile, by bot name."""
    out = {}
    for bot in settings.bots.values():
        chain = []
        account_profile = settings.accounts[bot.account].profile
        if account_profile is not None:
            chain.append(settings.profiles[account_profile])
        if bot.profile != account_profile:
            chain.append(settings.profiles[bot.profile])
        out[bot.name] = merge(chain, bot_money_out=bot.allow_money_out)
    return out


def engine_settings(profiles: Mapping[str, EffectiveProfile]) -> ProjectionSettings:
    """One ProjectionSettings at least as strict as every effective profile (module doc)."""
    values = list(profiles.values())
    if not values:
        return ProjectionSettings(pending_buffer=DEFAULT_FLOOR)
    return ProjectionSettings(
        market_slippage=max(p.market_slippage for p in values),
        include_resting_orders=any(p.include_resting_orders for p in values),
        conditional_mode="project",
        pending_buffer=max(p.min_unimmr_after for p in values),
    )
