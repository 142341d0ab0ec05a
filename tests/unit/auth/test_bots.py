"""auth/bots.py: key lookup (-2014/-2015), verify order (timing, signature, replay), allow-lists."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from margin_gate.auth.bots import REPLAYED
from margin_gate.auth.bots import THROTTLED
from margin_gate.auth.bots import AllowList
from margin_gate.auth.bots import Bot
from margin_gate.auth.bots import BotAuth
from margin_gate.auth.replay import MemoryReplayGuard
from margin_gate.settings import parse_settings
from margin_gate.wire.params import Params
from margin_gate.wire.params import parse_params

KEY = "botKey12345678"
SECRET = "bot-secret"
NOW = 1_700_000_000_000


def _auth(replay: MemoryReplayGuard | None = None, **bot: object) -> BotAuth:
    config = {
        "accounts": {"main": {"api_key": "exchangeKey1", "api_secret": {"env": "S"}}},
        "bots": {"alpha": {"api_key": KEY, "secret": {"env": "BS"}, **bot}},
        "profiles": {"treasury": {"allow_money_out": True}},
    }
    s = parse_settings(config, base_dir=Path("."), env={"S": "x", "BS": SECRET})
    return BotAuth(
        s.bots.values(), s.profiles, replay if replay is not None else MemoryReplayGuard()
    )


def _signed(payload: str, secret: str = SECRET) -> Params:
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    params = parse_params("GET", f"{payload}&signature={sig}".encode(), b"")
    assert isinstance(params, Params)
    return params


def _bot(auth: BotAuth) -> Bot:
    bot = auth.identify(KEY.encode())
    assert isinstance(bot, Bot)
    return bot


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, -2014),
        (b"", -2014),
        (b"bad key!", -2014),
        (b"short", -2014),
        (b"unknown12345", -2015),
    ],
)
def test_identify_when_key_bad_then_binance_code(header: bytes | None, code: int) -> None:
    # Act
    result = _auth().identify(header)
    # Assert
    assert not isinstance(result, Bot)
    assert (result.code, result.status) == (code, 401)


def test_identify_when_known_key_then_bot_without_secret_in_repr() -> None:
    # Act
    bot = _bot(_auth())
    # Assert
    assert (bot.name, bot.account, bot.profile) == ("alpha", "main", "default")
    assert KEY not in repr(bot)


async def test_verify_when_valid_then_none_then_replay_refused() -> None:
    # Arrange
    auth = _auth()
    params = _signed(f"symbol=BTCUSDT&timestamp={NOW}")
    # Act
    first = await auth.verify(_bot(auth), params, NOW)
    second = await auth.verify(_bot(auth), params, NOW + 1)
    # Assert
    assert first is None
    assert second is REPLAYED


async def test_verify_when_same_signature_on_another_endpoint_then_both_pass() -> None:
    # Arrange: query an order, then cancel it, in one millisecond: same parameters, same
    # signature, two different requests
    auth = _auth()
    params = _signed(f"symbol=BTCUSDT&orderId=7&timestamp={NOW}")
    # Act
    queried = await auth.verify(_bot(auth), params, NOW, "GET /papi/v1/um/order")
    cancelled = await auth.verify(_bot(auth), params, NOW, "DELETE /papi/v1/um/order")
    again = await auth.verify(_bot(auth), params, NOW, "DELETE /papi/v1/um/order")
    # Assert
    assert (queried, cancelled) == (None, None)
    assert again is REPLAYED


async def test_verify_when_bad_signature_then_1022_and_not_remembered() -> None:
    # Arrange
    guard = MemoryReplayGuard()
    auth = _auth(guard)
    # Act
    error = await auth.verify(_bot(auth), _signed(f"a=1&timestamp={NOW}", "wrong"), NOW)
    # Assert
    assert error is not None
    assert error.code == -1022
    assert len(guard) == 0


async def test_verify_when_stale_and_bad_signature_then_timing_reported_first() -> None:
    # Act
    auth = _auth()
    error = await auth.verify(_bot(auth), _signed(f"a=1&timestamp={NOW - 10_000}", "x"), NOW)
    # Assert
    assert error is not None
    assert error.code == -1021


async def test_verify_when_replay_cache_full_then_throttled() -> None:
    # Arrange
    auth = _auth(MemoryReplayGuard(max_entries=1000))
    bot = _bot(auth)
    for i in range(1000):
        assert await auth.verify(bot, _signed(f"i={i}&timestamp={NOW}"), NOW) is None
    # Act
    error = await auth.verify(bot, _signed(f"i=x&timestamp={NOW}"), NOW)
    # Assert
    assert error is THROTTLED


async def test_verify_when_no_signature_then_1102() -> None:
    auth = _auth()
    params = parse_params("GET", f"timestamp={NOW}".encode(), b"")
    assert isinstance(params, Params)
    error = await auth.verify(_bot(auth), params, NOW)
    assert error is not None
    assert error.code == -1102


def test_money_out_when_profile_allows_then_bot_allowed() -> None:
    assert _bot(_auth(profile="treasury")).allow_money_out
    assert _bot(_auth(allow_money_out=True)).allow_money_out
    assert not _bot(_auth()).allow_money_out


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/papi/v1/um/order", True),
        ("DELETE", "/PAPI/v1/UM/order", True),
        ("GET", "/fapi/v1/order", True),
        ("POST", "/fapi/v1/order", False),
        ("GET", "/api/v3/account", True),
        ("POST", "/api/v3/order", False),
    ],
)
def test_allow_list_when_patterns_then_method_and_glob_match(
    method: str, path: str, allowed: bool
) -> None:
    # Arrange
    allow = AllowList(["/papi/v1/um/*", "GET /fapi/v1/*", "* /api/v3/account"])
    # Act / Assert
    assert allow.allows(method, path) is allowed
