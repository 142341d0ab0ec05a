"""`[profiles.<name>]`: reading one profile, and refusing a bot profile looser than its account's.

Every key is optional ("not set" = None). The merge into what a bot is held to (stricter of the
account's and the bot's profile, defaults filled in) is policy/profile.py; here we only refuse,
at start-up, a bot profile that *sets* a field looser than its account's profile sets it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from typing import cast

from margin_gate.settings._table import Table
from margin_gate.settings.model import Account
from margin_gate.settings.model import BotSettings
from margin_gate.settings.model import ConditionalMode
from margin_gate.settings.model import ConfigError
from margin_gate.settings.model import Profile

__all__ = ["ENDPOINT_PATTERN", "REDUCE_ONLY_LIMIT", "check_profiles"]

# binance-pm.md §1.8: at or below 1.20 the exchange takes reduce-only orders only, so a floor
# for risk-increasing orders must sit above it.
REDUCE_ONLY_LIMIT = Decimal("1.20")
ENDPOINT_PATTERN = re.compile(r"(?:(?:GET|POST|PUT|DELETE|\*) )?/[A-Za-z0-9/_\-.*]*")
_SYMBOL = re.compile(r"[A-Z0-9_]{1,32}")


def _uni_floor(t: Table, name: str) -> Decimal | None:
    value = t.opt_decimal(name)
    if value is not None and value <= REDUCE_ONLY_LIMIT:
        raise ConfigError(
            f"{t.key(name)}: must be > 1.20 (at or below 1.20 Binance takes reduce-only "
            f"orders only, binance-pm.md §1.8), got {value}"
        )
    return value


def _positive(t: Table, name: str, hi: Decimal | None = None) -> Decimal | None:
    value = t.opt_decimal(name)
    if value is not None and (value <= 0 or (hi is not None and value >= hi)):
        bound = f" and < {hi}" if hi is not None else ""
        raise ConfigError(f"{t.key(name)}: must be > 0{bound}, got {value}")
    return value


def _opt_bool(t: Table, name: str) -> bool | None:
    return t.bool_(name, False) if name in t.names() else None


def _profile(name: str, t: Table) -> Profile:
    floor = _uni_floor(t, "min_unimmr_after")
    warn = _uni_floor(t, "warn_unimmr_below")
    slippage = t.opt_decimal("market_slippage")
    if slippage is not None and not 0 <= slippage < 1:
        raise ConfigError(f"{t.key('market_slippage')}: a fraction in [0, 1), got {slippage}")
    mode = None
    if "conditional_mode" in t.names():
        mode = cast(ConditionalMode, t.choice("conditional_mode", ("project", "reduce_only"), ""))
    symbols = t.opt_str_list("allowed_symbols")
    if symbols is not None:
        for i, sym in enumerate(symbols):
            if not _SYMBOL.fullmatch(sym.upper()):
                raise ConfigError(f"{t.key('allowed_symbols')}[{i}]: not a symbol: {sym!r}")
    endpoints = t.opt_str_list("allowed_endpoints")
    for i, pattern in enumerate(endpoints or ()):
        if not ENDPOINT_PATTERN.fullmatch(pattern):
            where = f"{t.key('allowed_endpoints')}[{i}]"
            raise ConfigError(f"{where}: expected '[METHOD ]/path[*]', got {pattern!r}")
    p = Profile(
        name,
        min_unimmr_after=floor,
        warn_unimmr_below=warn,
        market_slippage=slippage,
        include_resting_orders=_opt_bool(t, "include_resting_orders"),
        conditional_mode=mode,
        max_order_notional=_positive(t, "max_order_notional"),
        price_collar_bps=_positive(t, "price_collar_bps", Decimal(10_000)),
        allowed_symbols=None if symbols is None else frozenset(s.upper() for s in symbols),
        allowed_endpoints=None if endpoints is None else tuple(endpoints),
        allow_manual_liquidation=_opt_bool(t, "allow_manual_liquidation"),
        allow_money_out=_opt_bool(t, "allow_money_out"),
    )
    t.close()
    return p


# field -> True when the bot's value is looser than the account's (both set)
_LOOSER: dict[str, Callable[[Any, Any], bool]] = {
    "min_unimmr_after": lambda bot, acct: bot < acct,
    "warn_unimmr_below": lambda bot, acct: bot < acct,
    "market_slippage": lambda bot, acct: bot < acct,
    "include_resting_orders": lambda bot, acct: acct and not bot,
    "conditional_mode": lambda bot, acct: acct == "reduce_only" and bot != acct,
    "max_order_notional": lambda bot, acct: bot > acct,
    "price_collar_bps": lambda bot, acct: bot > acct,
    "allowed_symbols": lambda bot, acct: not bot <= acct,
    "allow_manual_liquidation": lambda bot, acct: bot and not acct,
    "allow_money_out": lambda bot, acct: bot and not acct,
}


def looser_fields(bot: Profile, account: Profile) -> list[str]:
    """Fields the bot profile sets looser than the account profile sets them."""
    found = []
    for name, looser in _LOOSER.items():
        b, a = getattr(bot, name), getattr(account, name)
        if b is not None and a is not None and looser(b, a):
            found.append(name)
    return found


def check_profiles(
    accounts: Mapping[str, Account],
    bots: Mapping[str, BotSettings],
    profiles: Mapping[str, Profile],
) -> None:
    """Refuse a bot profile (or a bot's allow_money_out) looser than its account's profile."""
    for bot in bots.values():
        acct_profile_name = accounts[bot.account].profile
        if acct_profile_name is None:
            continue
        acct = profiles[acct_profile_name]
        own = profiles[bot.profile]
        for name in looser_fields(own, acct):
            raise ConfigError(
                f"profiles.{own.name}.{name}: looser than profiles.{acct.name}.{name} "
                f"(bots.{bot.name} trades accounts.{bot.account}, whose profile is "
                f"{acct.name!r}; a bot's profile can only be stricter)"
            )
        if bot.allow_money_out and acct.allow_money_out is False:
            raise ConfigError(
                f"bots.{bot.name}.allow_money_out: looser than "
                f"profiles.{acct.name}.allow_money_out (accounts.{bot.account})"
            )
