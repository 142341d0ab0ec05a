"""Profiles: the stricter-of merge, engine settings per process, and start-up validation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from margin_gate.policy.profile import effective_profiles
from margin_gate.policy.profile import engine_settings
from margin_gate.policy.profile import merge
from margin_gate.settings import ConfigError
from margin_gate.settings import Profile
from margin_gate.settings import parse_settings

D = Decimal
ENV = {"EX_SECRET": "exchange-secret", "BOT_SECRET": "bot-secret-1", "BOT2_SECRET": "bot-2"}


def config(account_profile: dict[str, Any], bot_profile: dict[str, Any], **bot: Any) -> Any:
    return {
        "accounts": {"main": {"api_key": "exchangeKey0001", "api_secret": {"env": "EX_SECRET"},
                              "profile": "acct"}},
        "bots": {"b": {"api_key": "botKey000000001", "secret": {"env": "BOT_SECRET"},
                       "profile": "own", **bot},
                 "c": {"api_key": "botKey000000002", "secret": {"env": "BOT2_SECRET"},
                       "profile": "acct"}},
        "profiles": {"acct": account_profile, "own": bot_profile},
    }  # fmt: skip


def settings(data: Any) -> Any:
    return parse_settings(data, base_dir=Path("."), env=ENV)


def test_merge_when_nothing_set_then_defaults() -> None:
    # Act
    p = merge([Profile("a")])
    # Assert
    assert p.min_unimmr_after == D("1.5")
    assert p.market_slippage == D("0.005")
    assert p.include_resting_orders is True
    assert p.conditional_mode == "project"
    assert p.allow_manual_liquidation is False
    assert p.allowed_symbols is None


def test_merge_when_two_profiles_then_stricter_on_every_field() -> None:
    # Arrange
    a = Profile("a", min_unimmr_after=D("1.6"), market_slippage=D("0.01"),
                max_order_notional=D(1000), price_collar_bps=D(300),
                allowed_symbols=frozenset({"BTCUSDT", "ETHUSDT"}),
                allowed_endpoints=("/papi/v1/*",), allow_manual_liquidation=True)  # fmt: skip
    b = Profile("b", min_unimmr_after=D("2"), market_slippage=D("0.002"),
                max_order_notional=D(5000), price_collar_bps=D(100),
                allowed_symbols=frozenset({"ETHUSDT"}), allowed_endpoints=("POST /papi/v1/um/*",),
                conditional_mode="reduce_only", allow_manual_liquidation=False)  # fmt: skip
    # Act
    p = merge([a, b])
    # Assert
    assert (p.min_unimmr_after, p.market_slippage) == (D(2), D("0.01"))
    assert (p.max_order_notional, p.price_collar_bps) == (D(1000), D(100))
    assert p.allowed_symbols == frozenset({"ETHUSDT"})
    assert p.conditional_mode == "reduce_only"
    assert p.allow_manual_liquidation is False
    assert p.allows_endpoint("POST", "/papi/v1/um/order")
    assert not p.allows_endpoint("POST", "/papi/v1/cm/order")  # not in b's list
    assert not p.allows_endpoint("GET", "/papi/v1/um/order")  # b names POST only


def test_effective_when_bot_stricter_then_merged_with_account() -> None:
    # Arrange
    s = settings(config({"min_unimmr_after": "1.6"}, {"min_unimmr_after": "2.0",
                                                       "max_order_notional": "100"}))  # fmt: skip
    # Act
    profiles = effective_profiles(s)
    # Assert
    assert profiles["b"].min_unimmr_after == D("2.0")
    assert profiles["b"].max_order_notional == D(100)
    assert profiles["c"].min_unimmr_after == D("1.6")


@pytest.mark.parametrize(
    ("acct", "own", "field"),
    [
        ({"min_unimmr_after": "2.0"}, {"min_unimmr_after": "1.6"}, "min_unimmr_after"),
        ({"market_slippage": "0.01"}, {"market_slippage": "0.005"}, "market_slippage"),
        ({"max_order_notional": "100"}, {"max_order_notional": "200"}, "max_order_notional"),
        ({"price_collar_bps": "100"}, {"price_collar_bps": "200"}, "price_collar_bps"),
        ({"allowed_symbols": ["BTCUSDT"]}, {"allowed_symbols": ["ETHUSDT"]}, "allowed_symbols"),
        ({"include_resting_orders": True}, {"include_resting_orders": False},
         "include_resting_orders"),
        ({"conditional_mode": "reduce_only"}, {"conditional_mode": "project"}, "conditional_mode"),
        ({"allow_manual_liquidation": False}, {"allow_manual_liquidation": True},
         "allow_manual_liquidation"),
    ],
)  # fmt: skip
def test_startup_when_bot_profile_looser_then_fails_naming_both_keys(
    acct: dict[str, Any], own: dict[str, Any], field: str
) -> None:
    # Act
    with pytest.raises(ConfigError) as failed:
        settings(config(acct, own))
    # Assert
    assert str(failed.value).startswith(f"profiles.own.{field}: looser than profiles.acct.{field}")


def test_startup_when_bot_money_out_against_account_no_then_fails() -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match=r"bots\.b\.allow_money_out: looser than profiles\.acct"):
        settings(config({"allow_money_out": False}, {}, allow_money_out=True))


@pytest.mark.parametrize("value", ["1.20", "1.1", "1"])
def test_startup_when_floor_not_above_120_then_fails(value: str) -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match=r"profiles\.own\.min_unimmr_after: must be > 1\.20"):
        settings(config({}, {"min_unimmr_after": value}))


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("market_slippage", "1", "market_slippage"),
        ("price_collar_bps", "0", "price_collar_bps"),
        ("max_order_notional", "-1", "max_order_notional"),
        ("allowed_symbols", ["BTC USDT"], "allowed_symbols"),
        ("allowed_endpoints", ["nope"], "allowed_endpoints"),
        ("conditional_mode", "maybe", "conditional_mode"),
        ("typo", "1", "profiles.own.typo: unknown key"),
    ],
)
def test_startup_when_profile_value_bad_then_fails_naming_key(
    key: str, value: Any, match: str
) -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match=match):
        settings(config({}, {key: value}))


def test_startup_when_account_profile_unknown_then_fails() -> None:
    # Arrange
    data = config({}, {})
    data["accounts"]["main"]["profile"] = "nope"
    # Act / Assert
    with pytest.raises(ConfigError, match=r"accounts\.main\.profile: no \[profiles\.nope\]"):
        settings(data)


def test_engine_settings_when_several_profiles_then_strictest_of_all() -> None:
    # Arrange
    own = {"market_slippage": "0.02", "min_unimmr_after": "1.8", "include_resting_orders": True}
    s = settings(config({"market_slippage": "0.004"}, own))
    # Act
    engine = engine_settings(effective_profiles(s))
    # Assert
    assert engine.market_slippage == D("0.02")
    assert engine.pending_buffer == D("1.8")
    assert engine.include_resting_orders is True
    assert engine.conditional_mode == "project"
