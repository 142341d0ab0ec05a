"""Settings: defaults, every failure names its key, secrets only from env/file and masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from margin_gate.settings import ConfigError
from margin_gate.settings import load_settings
from margin_gate.settings import mask
from margin_gate.settings import parse_settings

ENV = {"K": "exchangeKey123456", "S": "exchange-secret", "BK": "botKey12345678", "BS": "bot-sec"}
REPO = Path(__file__).resolve().parents[3]


def _base() -> dict[str, Any]:
    return {
        "accounts": {"main": {"api_key": {"env": "K"}, "api_secret": {"env": "S"}}},
        "bots": {"alpha": {"api_key": {"env": "BK"}, "secret": {"env": "BS"}}},
    }


def _parse(config: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return parse_settings(config, base_dir=Path("/nonexistent"), env=ENV if env is None else env)


def _error(config: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        _parse(config, env)
    return str(info.value)


def test_defaults_when_minimal_config_then_binance_hosts_and_safe_limits() -> None:
    # Act
    s = _parse(_base())
    # Assert
    assert dict(s.upstream.urls) == {
        "papi": "https://papi.binance.com",
        "fapi": "https://fapi.binance.com",
        "dapi": "https://dapi.binance.com",
        "api": "https://api.binance.com",
        "sapi": "https://api.binance.com",
    }
    assert (s.upstream.target, s.upstream.client) == ("binance", "h1")
    assert s.server.max_body_bytes == 65536
    assert s.auth.replay_protection is True
    assert "default" in s.profiles
    bot = s.bots["alpha"]
    assert (bot.account, bot.profile, bot.allow_endpoints, bot.allow_money_out) == (
        "main",
        "default",
        None,
        False,
    )


def _with(path: str, value: Any) -> dict[str, Any]:
    config = _base()
    *parents, last = path.split(".")
    node = config
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return config


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "unknown section": (_with("polcy", {}), "polcy: unknown section"),
    "unknown key": (_with("server.prot", 1), "server.prot: unknown key"),
    "unknown account key": (
        _with("accounts.main.secret", "x"),
        "accounts.main.secret: unknown key",
    ),
    "bad port": (_with("server.port", 70000), "server.port: expected an integer"),
    "bool as int": (_with("server.workers", True), "server.workers: expected an integer"),
    "bad target": (_with("upstream.target", "testnet"), "upstream.target: expected 'binance'"),
    "bad client": (_with("upstream.client", "requests"), "upstream.client: expected 'h1'"),
    "bad url": (_with("upstream.urls.fapi", "ftp://x"), "upstream.urls.fapi: expected an http(s)"),
    "url with path": (_with("upstream.urls.fapi", "https://x/y"), "upstream.urls.fapi: a base URL"),
    "bad prefix": (_with("upstream.urls.F-API", "https://x"), "upstream.urls.F-API: a prefix"),
    "inline secret": (
        _with("accounts.main.api_secret", "s3cr3t"),
        "accounts.main.api_secret: inline secrets are refused",
    ),
    "inline bot secret": (_with("bots.alpha.secret", "s3cr3t"), "bots.alpha.secret: inline"),
    "bad source": (_with("accounts.main.api_secret", {"vault": "x"}), "accounts.main.api_secret"),
    "unknown account": (_with("bots.alpha.account", "other"), "bots.alpha.account: no [accounts"),
    "unknown profile": (_with("bots.alpha.profile", "risky"), "bots.alpha.profile: no [profiles"),
    "bad key kind": (_with("accounts.main.key_kind", "dsa"), "accounts.main.key_kind"),
    "hmac bot with public key": (
        _with("bots.alpha.public_key", {"env": "S"}),
        "bots.alpha.public_key: not used with key_kind = 'hmac'",
    ),
    "short bot key": (_with("bots.alpha.api_key", "short"), "bots.alpha.api_key: 8-128"),
    "bad allow pattern": (
        _with("bots.alpha.allow_endpoints", ["PATCH /x"]),
        "bots.alpha.allow_endpoints[0]",
    ),
    "allow not list": (_with("bots.alpha.allow_endpoints", "/x"), "bots.alpha.allow_endpoints"),
    "bad floor": (_with("profiles.p.min_unimmr_after", "0.5"), "profiles.p.min_unimmr_after"),
    "float floor": (_with("profiles.p.min_unimmr_after", 1.5), "profiles.p.min_unimmr_after"),
    "redis without url": (_with("state.backend", "redis"), "state.redis_url: required"),
    "no accounts": ({"accounts": {}}, "accounts: at least one"),
    "paper with workers": (
        {**_with("server.workers", 2), "upstream": {"target": "paper"}},
        "server.workers",
    ),
    "bad log format": (_with("server.log_format", "xml"), "server.log_format: expected 'json'"),
    "drain past deadline": (
        {**_base(), "server": {"drain_s": 30, "shutdown_timeout_s": 25}},
        "server.shutdown_timeout_s: must be greater than drain_s",
    ),
    "bad ops network": (_with("server.ops_allow", ["10.0.0.0/33"]), "server.ops_allow[0]"),
    "ops allow not list": (_with("server.ops_allow", "10.0.0.0/8"), "server.ops_allow"),
    "ed25519 secret not pem": (
        _with("accounts.main.key_kind", "ed25519"),
        "accounts.main.api_secret: not a usable ed25519 private key (env:S)",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_load_when_bad_value_then_error_names_the_key(case: str) -> None:
    # Arrange
    config, expected = BAD[case]
    # Act
    message = _error(config)
    # Assert
    assert message.startswith(expected) or expected in message, message


def test_server_ops_keys_defaults_and_values() -> None:
    # Act
    default = _parse(_base()).server
    s = _parse(
        {
            **_base(),
            "server": {
                "log_format": "text",
                "request_log": False,
                "drain_s": 3,
                "shutdown_timeout_s": 8.5,
                "ops_allow": ["127.0.0.1", "10.1.2.3/8", "::1"],
            },
        }
    ).server
    # Assert
    assert (default.log_format, default.request_log, default.drain_s) == ("json", True, 15.0)
    assert (default.shutdown_timeout_s, default.ops_allow) == (25.0, None)
    assert (s.log_format, s.request_log, s.drain_s, s.shutdown_timeout_s) == ("text", False, 3.0,
                                                                              8.5)  # fmt: skip
    assert s.ops_allow == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")


def test_load_when_env_missing_then_error_names_key_and_variable() -> None:
    # Act
    message = _error(_base(), env={**ENV, "S": ""})
    # Assert
    assert message == "accounts.main.api_secret: environment variable S is not set"


def test_load_when_two_bots_share_a_key_then_refused() -> None:
    # Arrange
    config = _with("bots.beta", {"api_key": {"env": "BK"}, "secret": {"env": "BS"}})
    # Act / Assert
    assert "bots.beta.api_key: same key as bots.alpha" in _error(config)


def test_load_when_secrets_in_files_then_read_relative_to_config(tmp_path: Path) -> None:
    # Arrange
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "main.pem").write_bytes(pem)
    (tmp_path / "keys" / "bot.secret").write_text("bot-secret\n")
    (tmp_path / "gw.toml").write_text(
        """
[accounts.main]
key_kind = "ed25519"
api_key = "exchangeKey123456"
api_secret = { file = "keys/main.pem" }
[bots.alpha]
api_key = "botKey12345678"
secret = { file = "keys/bot.secret" }
"""
    )
    # Act
    s = load_settings(tmp_path / "gw.toml", env={})
    # Assert
    assert s.accounts["main"].signer.kind == "ed25519"
    assert s.bots["alpha"].verifier.verify(b"x", _hmac(b"bot-secret", b"x"))
    assert "BEGIN" not in repr(s)
    assert "bot-secret" not in repr(s)


def _hmac(secret: bytes, payload: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def test_load_when_file_missing_then_error_names_key(tmp_path: Path) -> None:
    # Arrange
    (tmp_path / "gw.toml").write_text(
        '[accounts.main]\napi_key = "exchangeKey1"\napi_secret = { file = "nope.secret" }\n'
    )
    # Act / Assert
    with pytest.raises(ConfigError, match=r"^accounts.main.api_secret: cannot read .*nope.secret"):
        load_settings(tmp_path / "gw.toml", env={})


def test_load_when_not_toml_then_error_names_file(tmp_path: Path) -> None:
    # Arrange
    (tmp_path / "gw.toml").write_text("[server\n")
    # Act / Assert
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path / "gw.toml", env={})


@pytest.mark.parametrize("name", ["gateway.toml", "gateway.example.toml"])
def test_shipped_configs_when_loaded_then_valid(name: str) -> None:
    # Arrange
    env = {
        "MG_MAIN_API_KEY": "exchangeKey123456",
        "MG_MAIN_API_SECRET": "s",
        "MG_BOT_ALPHA_KEY": "botKey12345678",
        "MG_BOT_ALPHA_SECRET": "b",
    }
    # Act
    s = load_settings(REPO / "config" / name, env=env)
    # Assert
    assert s.accounts
    assert s.bots


def test_with_server_when_cli_overrides_then_only_host_port_change() -> None:
    # Arrange
    s = _parse(_with("server.max_body_bytes", 2048))
    # Act
    t = s.with_server(host="0.0.0.0", port=9000)
    # Assert
    assert (t.server.host, t.server.port, t.server.max_body_bytes) == ("0.0.0.0", 9000, 2048)
    assert s.with_server().server == s.server


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "<empty>"),
        ("", "<empty>"),
        ("short", "***"),
        ("abcdefghijklmnopqrstuvwxyz", "abcd***"),
        (b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n", "***"),
    ],
)
def test_mask_when_key_material_then_at_most_four_characters(value: Any, expected: str) -> None:
    assert mask(value) == expected


def _redis(url: Any) -> dict[str, Any]:
    config = _base()
    config["state"] = {"backend": "redis", "redis_url": url}
    return config


def test_redis_url_when_inline_without_password_then_used() -> None:
    assert _parse(_redis("redis://127.0.0.1:6379/0")).state.redis_url == "redis://127.0.0.1:6379/0"


def test_redis_url_when_inline_with_password_then_refused_as_an_inline_secret() -> None:
    message = _error(_redis("redis://:hunter2-password@10.0.0.5:6379/0"))
    assert message.startswith("state.redis_url: inline secrets are refused")
    assert "hunter2" not in message


def test_redis_url_when_from_env_or_file_then_password_allowed(tmp_path: Path) -> None:
    url = "rediss://mg:hunter2-password@redis.internal:6380/1"
    settings = _parse(_redis({"env": "MG_REDIS_URL"}), env={**ENV, "MG_REDIS_URL": url})
    assert settings.state.redis_url == url
    (tmp_path / "redis.url").write_text(url + "\n")
    from_file = parse_settings(
        _redis({"file": "redis.url"}), base_dir=tmp_path, env=ENV
    ).state.redis_url
    assert from_file == url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"env": "NOPE"}, "state.redis_url: environment variable NOPE is not set"),
        ("http://127.0.0.1:6379", "state.redis_url: expected a redis/"),
    ],
)
def test_redis_url_when_bad_then_error_names_the_key(value: Any, expected: str) -> None:
    assert _error(_redis(value)).startswith(expected)
