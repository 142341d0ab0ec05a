"""Reading the TOML file: one function per section, each closing its table (unknown keys fail).

To add a key: a field on the dataclass in settings/model.py, one typed `_Table` read in the
section's function here, a line in config/gateway.example.toml and in docs/configuration.md.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from typing import cast
from urllib.parse import urlsplit

from margin_gate.auth.signing import KeyKind
from margin_gate.auth.signing import load_signer
from margin_gate.auth.signing import load_verifier
from margin_gate.settings._table import Table as _Table
from margin_gate.settings.model import API_KEY_PATTERN
from margin_gate.settings.model import DEFAULT_UPSTREAMS
from margin_gate.settings.model import KEY_KINDS
from margin_gate.settings.model import Account
from margin_gate.settings.model import AuditSettings
from margin_gate.settings.model import AuthSettings
from margin_gate.settings.model import BotSettings
from margin_gate.settings.model import ConfigError
from margin_gate.settings.model import OperatorSettings
from margin_gate.settings.model import PolicySettings
from margin_gate.settings.model import Profile
from margin_gate.settings.model import ServerSettings
from margin_gate.settings.model import Settings
from margin_gate.settings.model import StateBackend
from margin_gate.settings.model import StateSettings
from margin_gate.settings.model import UpstreamClient
from margin_gate.settings.model import UpstreamSettings
from margin_gate.settings.model import UpstreamTarget
from margin_gate.settings.options import AUDIT_OPTIONS
from margin_gate.settings.options import STATE_OPTIONS
from margin_gate.settings.options import read_options
from margin_gate.settings.profiles import ENDPOINT_PATTERN
from margin_gate.settings.profiles import _profile
from margin_gate.settings.profiles import check_profiles

__all__ = ["load_settings", "parse_settings"]

_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{0,15}")
_SECTIONS = (
    "server",
    "upstream",
    "auth",
    "accounts",
    "bots",
    "profiles",
    "state",
    "audit",
    "operator",
    "policy",
)


def load_settings(path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a TOML config; relative file paths resolve against its directory."""
    config_path = Path(path)
    try:
        raw = config_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read config ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: not valid TOML ({exc})") from None
    return parse_settings(
        data,
        base_dir=config_path.parent,
        env=os.environ if env is None else env,
        source=config_path,
    )


def parse_settings(
    data: Mapping[str, object],
    *,
    base_dir: Path,
    env: Mapping[str, str],
    source: Path | None = None,
) -> Settings:
    root = _Table(data, "", base_dir, env, sections=_SECTIONS)
    server = _server(root.table("server"))
    upstream = _upstream(root.table("upstream"), base_dir)
    auth = _auth(root.table("auth"))
    state = _state(root.table("state"))
    audit = _audit(root.table("audit"))
    operator = _operator(root.table("operator"))
    policy_table = root.table("policy")
    policy = PolicySettings(enforce=policy_table.bool_("enforce", True))
    policy_table.close()
    profiles = {name: _profile(name, t) for name, t in root.tables("profiles").items()}
    profiles.setdefault("default", Profile("default"))
    accounts = {name: _account(name, t) for name, t in root.tables("accounts").items()}
    bots = {name: _bot(name, t) for name, t in root.tables("bots").items()}
    root.close()
    if not accounts:
        raise ConfigError("accounts: at least one [accounts.<name>] is required")
    seen_keys: dict[bytes, str] = {}
    for bot in bots.values():
        if bot.account not in accounts:
            raise ConfigError(f"bots.{bot.name}.account: no [accounts.{bot.account}]")
        if bot.profile not in profiles:
            raise ConfigError(f"bots.{bot.name}.profile: no [profiles.{bot.profile}]")
        other = seen_keys.setdefault(bot.api_key.value, bot.name)
        if other != bot.name:
            raise ConfigError(f"bots.{bot.name}.api_key: same key as bots.{other}")
    if server.workers > 1 and upstream.target == "paper":
        raise ConfigError("server.workers: the in-process paper exchange needs workers = 1")
    for account in accounts.values():
        if account.profile is not None and account.profile not in profiles:
            raise ConfigError(f"accounts.{account.name}.profile: no [profiles.{account.profile}]")
    check_profiles(accounts, bots, profiles)
    return Settings(
        accounts=MappingProxyType(accounts),
        bots=MappingProxyType(bots),
        profiles=MappingProxyType(profiles),
        server=server,
        upstream=upstream,
        auth=auth,
        state=state,
        audit=audit,
        operator=operator,
        policy=policy,
        source=source,
    )


def _server(t: _Table) -> ServerSettings:
    s = ServerSettings(
        host=t.str_("host", "127.0.0.1"),
        port=t.int_("port", 8080, lo=0, hi=65535),
        workers=t.int_("workers", 1, lo=1, hi=64),
        max_body_bytes=t.int_("max_body_bytes", 64 * 1024, lo=1024),
        log_level=cast(
            'Literal["debug", "info", "warning", "error"]',
            t.choice("log_level", ("debug", "info", "warning", "error"), "info"),
        ),
        access_log=t.bool_("access_log", False),
        log_format=cast(
            'Literal["json", "text"]', t.choice("log_format", ("json", "text"), "json")
        ),
        request_log=t.bool_("request_log", True),
        drain_s=t.float_("drain_s", 15.0, lo=0.0, hi=600.0),
        shutdown_timeout_s=t.float_("shutdown_timeout_s", 25.0, lo=1.0, hi=900.0),
        ops_allow=_networks(t, "ops_allow"),
    )
    if s.shutdown_timeout_s <= s.drain_s:
        raise ConfigError(
            f"{t.key('shutdown_timeout_s')}: must be greater than drain_s ({s.drain_s}): the "
            "shutdown steps run after the drain"
        )
    t.close()
    return s


def _networks(t: _Table, name: str) -> tuple[str, ...] | None:
    values = t.opt_str_list(name)
    if values is None:
        return None
    out = []
    for i, value in enumerate(values):
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ConfigError(
                f"{t.key(name)}[{i}]: expected an address or network (CIDR), got {value!r}"
            ) from None
    return tuple(out)


def _upstream(t: _Table, base_dir: Path) -> UpstreamSettings:
    target = cast(UpstreamTarget, t.choice("target", ("binance", "paper"), "binance"))
    urls = dict(DEFAULT_UPSTREAMS)
    overrides = t.table("urls")
    for prefix in overrides.names():
        if not _PREFIX_PATTERN.fullmatch(prefix):
            raise ConfigError(f"{overrides.key(prefix)}: a prefix is lowercase letters/digits")
        urls[prefix] = _base_url(overrides.key(prefix), overrides.str_(prefix))
    overrides.close()
    s = UpstreamSettings(
        target=target,
        client=cast(UpstreamClient, t.choice("client", ("h1", "aiohttp"), "h1")),
        urls=MappingProxyType(urls),
        paper_state=t.path("paper_state", base_dir / "paper-state.json"),
        connect_timeout_s=t.float_("connect_timeout_s", 2.0, lo=0.05, hi=60.0),
        timeout_s=t.float_("timeout_s", 10.0, lo=0.1, hi=120.0),
        pool_size=t.int_("pool_size", 100, lo=1, hi=10_000),
        keepalive_s=t.float_("keepalive_s", 15.0, lo=0.0, hi=600.0),
    )
    t.close()
    return s


def _base_url(key: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: expected an http(s) base URL, got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"{key}: a base URL has no path, query, fragment or user: {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _auth(t: _Table) -> AuthSettings:
    s = AuthSettings(
        replay_protection=t.bool_("replay_protection", True),
        replay_max_entries=t.int_("replay_max_entries", 1_000_000, lo=1000),
    )
    t.close()
    return s


def _state(t: _Table) -> StateSettings:
    backend = cast(StateBackend, t.choice("backend", ("memory", "redis"), "memory"))
    redis_url = _redis_url(t)
    if backend == "redis" and redis_url is None:
        raise ConfigError(f'{t.key("redis_url")}: required when backend = "redis"')
    key_prefix = t.str_("key_prefix", "mg")
    options = read_options(t, STATE_OPTIONS)
    s = StateSettings(backend, redis_url, key_prefix, MappingProxyType(options))
    t.close()
    return s


def _redis_url(t: _Table) -> str | None:
    """`redis_url` inline (no password) or from {env = ...} / {file = ...}; a password written
    into the config file is refused like any other inline secret."""
    found = t.opt_str_or_secret("redis_url")
    if found is None:
        return None
    url, inline = found
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in _REDIS_SCHEMES:
        raise ConfigError(
            f"{t.key('redis_url')}: expected a {'/'.join(_REDIS_SCHEMES)} URL, "
            f"got scheme {scheme!r}"
        )
    # netloc "user:pass@host" / ":pass@host"; sentinel lists "s1:26379,s2:26379" carry none
    if inline and "@" in parts.netloc and ":" in parts.netloc.rsplit("@", 1)[0]:
        raise ConfigError(
            f"{t.key('redis_url')}: inline secrets are refused (the URL holds a password); use "
            '{env = "NAME"} or {file = "PATH"}'
        )
    return url


_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")


def _audit(t: _Table) -> AuditSettings:
    s = AuditSettings(
        dir=t.opt_path("dir"),
        stream=t.opt_str("stream"),
        replica=t.opt_str("replica"),
        passthrough=t.bool_("passthrough", False),
        options=MappingProxyType(read_options(t, AUDIT_OPTIONS)),
    )
    t.close()
    return s


def _operator(t: _Table) -> OperatorSettings:
    token = t.secret("token") if "token" in t.names() else None
    if token is not None and len(token.value) < 16:
        raise ConfigError(f"{t.key('token')}: at least 16 characters ({token.source})")
    t.close()
    return OperatorSettings(token)


def _account(name: str, t: _Table) -> Account:
    kind = cast(KeyKind, t.choice("key_kind", KEY_KINDS, "hmac"))
    api_key = t.key_material("api_key")
    secret = t.secret("api_secret")
    try:
        signer = load_signer(kind, secret.value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{t.key('api_secret')}: not a usable {kind} private key ({secret.source})"
        ) from None
    profile = t.opt_str("profile")
    t.close()
    return Account(name, kind, api_key, signer, profile)


def _bot(name: str, t: _Table) -> BotSettings:
    kind = cast(KeyKind, t.choice("key_kind", KEY_KINDS, "hmac"))
    api_key = t.key_material("api_key")
    if not API_KEY_PATTERN.fullmatch(api_key.value.decode("ascii", "replace")):
        raise ConfigError(f"{t.key('api_key')}: 8-128 characters of A-Z a-z 0-9 _ -")
    material_key = "secret" if kind == "hmac" else "public_key"
    wrong_key = "public_key" if kind == "hmac" else "secret"
    if wrong_key in t.names():
        raise ConfigError(f"{t.key(wrong_key)}: not used with key_kind = {kind!r}")
    material = t.secret(material_key)
    try:
        verifier = load_verifier(kind, material.value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{t.key(material_key)}: not a usable {kind} key ({material.source})"
        ) from None
    allow = t.opt_str_list("allow_endpoints")
    if allow is not None:
        for i, pattern in enumerate(allow):
            if not ENDPOINT_PATTERN.fullmatch(pattern):
                where = f"{t.key('allow_endpoints')}[{i}]"
                raise ConfigError(f"{where}: expected '[METHOD ]/path[*]', got {pattern!r}")
    b = BotSettings(
        name=name,
        api_key=api_key,
        key_kind=kind,
        verifier=verifier,
        account=t.str_("account", "main"),
        profile=t.str_("profile", "default"),
        allow_endpoints=None if allow is None else tuple(allow),
        allow_money_out=t.bool_("allow_money_out", False),
    )
    t.close()
    return b
