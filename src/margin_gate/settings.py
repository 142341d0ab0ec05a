"""Gateway settings: one TOML file read once at start-up into frozen dataclasses.

Every section and key is declared here; an unknown key, a missing secret or a bad value raises
`ConfigError` naming the key (`accounts.main.api_secret: environment variable MG_MAIN_SECRET is
not set`). Secrets (exchange secrets, bot secrets and public keys) come only from
`{env = "NAME"}` or `{file = "path"}` (relative to the config file); an inline secret is
refused. Values that hold key material are `Secret`s whose repr is masked. The schema, key by
key, is in docs/configuration.md; later issues extend `[state]`, `[audit]` and `[profiles.*]`
by adding a field and one `_Table` call each.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Literal
from typing import cast
from urllib.parse import urlsplit

from margin_gate.auth.signing import KeyKind
from margin_gate.auth.signing import Signer
from margin_gate.auth.signing import Verifier
from margin_gate.auth.signing import load_signer
from margin_gate.auth.signing import load_verifier

__all__ = [
    "API_KEY_PATTERN",
    "DEFAULT_UPSTREAMS",
    "Account",
    "AuditSettings",
    "AuthSettings",
    "BotSettings",
    "ConfigError",
    "Profile",
    "Secret",
    "ServerSettings",
    "Settings",
    "StateSettings",
    "UpstreamSettings",
    "load_settings",
    "mask",
    "parse_settings",
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
_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{0,15}")
_MISSING = object()
_KEY_KINDS: tuple[KeyKind, ...] = ("hmac", "ed25519", "rsa")
_SECTIONS = ("server", "upstream", "auth", "accounts", "bots", "profiles", "state", "audit")

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


@dataclass(frozen=True, slots=True)
class Profile:
    """Policy profile; the margin engine and policy issues add their keys here."""

    name: str
    min_unimmr_after: Decimal | None = None
    allow_money_out: bool = False


@dataclass(frozen=True, slots=True)
class StateSettings:
    backend: StateBackend = "memory"
    redis_url: str | None = None
    key_prefix: str = "mg"


@dataclass(frozen=True, slots=True)
class AuditSettings:
    path: Path | None = None


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
    source: Path | None = None

    def with_server(self, *, host: str | None = None, port: int | None = None) -> Settings:
        """A copy with the command line's --host/--port applied."""
        server = replace(
            self.server,
            host=host if host is not None else self.server.host,
            port=port if port is not None else self.server.port,
        )
        return replace(self, server=server)


# -- LOADING --


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
    root = _Table(data, "", base_dir, env)
    server = _server(root.table("server"))
    upstream = _upstream(root.table("upstream"), base_dir)
    auth = _auth(root.table("auth"))
    state = _state(root.table("state"))
    audit = _audit(root.table("audit"))
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
    return Settings(
        accounts=MappingProxyType(accounts),
        bots=MappingProxyType(bots),
        profiles=MappingProxyType(profiles),
        server=server,
        upstream=upstream,
        auth=auth,
        state=state,
        audit=audit,
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
    )
    t.close()
    return s


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
    redis_url = t.opt_str("redis_url")
    if backend == "redis" and redis_url is None:
        raise ConfigError(f'{t.key("redis_url")}: required when backend = "redis"')
    s = StateSettings(backend, redis_url, t.str_("key_prefix", "mg"))
    t.close()
    return s


def _audit(t: _Table) -> AuditSettings:
    s = AuditSettings(path=t.opt_path("path"))
    t.close()
    return s


def _profile(name: str, t: _Table) -> Profile:
    floor = t.opt_decimal("min_unimmr_after")
    if floor is not None and floor < 1:
        raise ConfigError(f"{t.key('min_unimmr_after')}: must be >= 1 (uniMMR, §1.8)")
    p = Profile(name, floor, t.bool_("allow_money_out", False))
    t.close()
    return p


def _account(name: str, t: _Table) -> Account:
    kind = cast(KeyKind, t.choice("key_kind", _KEY_KINDS, "hmac"))
    api_key = t.key_material("api_key")
    secret = t.secret("api_secret")
    try:
        signer = load_signer(kind, secret.value)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{t.key('api_secret')}: not a usable {kind} private key ({secret.source})"
        ) from None
    t.close()
    return Account(name, kind, api_key, signer)


def _bot(name: str, t: _Table) -> BotSettings:
    kind = cast(KeyKind, t.choice("key_kind", _KEY_KINDS, "hmac"))
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
            if not re.fullmatch(r"(?:(?:GET|POST|PUT|DELETE|\*) )?/[A-Za-z0-9/_\-.*]*", pattern):
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


# -- TABLE READER --


class _Table:
    """Typed reads from one TOML table that remember which keys were read (see `close`)."""

    def __init__(self, data: object, path: str, base_dir: Path, env: Mapping[str, str]) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a table")
        self._data: Mapping[str, object] = data
        self._path = path
        self._base_dir = base_dir
        self._env = env
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def names(self) -> list[str]:
        return list(self._data)

    def close(self) -> None:
        for name in self._data:
            if name not in self._seen:
                if not self._path and name not in _SECTIONS:
                    raise ConfigError(f"{name}: unknown section (known: {', '.join(_SECTIONS)})")
                raise ConfigError(f"{self.key(name)}: unknown key")

    def _get(self, name: str) -> object:
        self._seen.add(name)
        return self._data.get(name, _MISSING)

    def _bad(self, name: str, what: str, value: object) -> ConfigError:
        return ConfigError(f"{self.key(name)}: expected {what}, got {value!r}")

    def table(self, name: str) -> _Table:
        value = self._get(name)
        return _Table({} if value is _MISSING else value, self.key(name), self._base_dir, self._env)

    def tables(self, name: str) -> dict[str, _Table]:
        outer = self.table(name)
        result = {}
        for sub in outer.names():
            if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", sub):
                raise ConfigError(f"{outer.key(sub)}: a name is letters, digits, _ or -")
            result[sub] = outer.table(sub)
        return result

    def str_(self, name: str, default: object = _MISSING) -> str:
        value = self._get(name)
        if value is _MISSING:
            if default is _MISSING:
                raise ConfigError(f"{self.key(name)}: required")
            return cast(str, default)
        if not isinstance(value, str) or not value:
            raise self._bad(name, "a non-empty string", value)
        return value

    def opt_str(self, name: str) -> str | None:
        if name not in self._data:
            self._seen.add(name)
            return None
        return self.str_(name)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.str_(name, default)
        if value not in choices:
            raise self._bad(name, " or ".join(repr(c) for c in choices), value)
        return value

    def int_(self, name: str, default: int, *, lo: int, hi: int | None = None) -> int:
        value = self._get(name)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "an integer", value)
        if value < lo or (hi is not None and value > hi):
            raise self._bad(name, f"an integer in [{lo}, {hi if hi is not None else '...'}]", value)
        return value

    def float_(self, name: str, default: float, *, lo: float, hi: float) -> float:
        value = self._get(name)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(name, "a number", value)
        if not lo <= value <= hi:
            raise self._bad(name, f"a number in [{lo}, {hi}]", value)
        return float(value)

    def bool_(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "true or false", value)
        return value

    def opt_decimal(self, name: str) -> Decimal | None:
        value = self._get(name)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise self._bad(name, 'a decimal string such as "1.5"', value)
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise self._bad(name, 'a decimal string such as "1.5"', value) from None
        if not result.is_finite():
            raise self._bad(name, "a finite decimal", value)
        return result

    def opt_str_list(self, name: str) -> list[str] | None:
        value = self._get(name)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "a list of strings", value)
        return cast(list[str], value)

    def path(self, name: str, default: Path) -> Path:
        value = self.str_(name, str(default))
        return self._resolve(value)

    def opt_path(self, name: str) -> Path | None:
        value = self.opt_str(name)
        return None if value is None else self._resolve(value)

    def _resolve(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self._base_dir / p

    def secret(self, name: str) -> Secret:
        """Key material from {env = ...} or {file = ...}; an inline value is refused."""
        value = self._get(name)
        if value is _MISSING:
            raise ConfigError(f'{self.key(name)}: required ({{env = "..."}} or {{file = "..."}})')
        if isinstance(value, str):
            raise ConfigError(
                f'{self.key(name)}: inline secrets are refused; use {{env = "NAME"}} '
                f'or {{file = "PATH"}}'
            )
        return self._read_source(name, value)

    def key_material(self, name: str) -> Secret:
        """An API key: inline (it identifies, it does not sign) or from env/file."""
        value = self._get(name)
        if isinstance(value, str) and value:
            return Secret(value.encode("ascii", "replace"), "inline")
        if value is _MISSING:
            raise ConfigError(f"{self.key(name)}: required")
        return self._read_source(name, value)

    def _read_source(self, name: str, value: object) -> Secret:
        key = self.key(name)
        if not isinstance(value, Mapping) or len(value) != 1:
            raise ConfigError(f'{key}: expected {{env = "NAME"}} or {{file = "PATH"}}')
        ((kind, ref),) = value.items()
        if kind not in ("env", "file") or not isinstance(ref, str) or not ref:
            raise ConfigError(f'{key}: expected {{env = "NAME"}} or {{file = "PATH"}}')
        if kind == "env":
            raw = self._env.get(ref)
            if raw is None or not raw.strip():
                raise ConfigError(f"{key}: environment variable {ref} is not set")
            material = raw.strip().encode("utf-8")
        else:
            path = self._resolve(ref)
            try:
                material = path.read_bytes().strip()
            except OSError as exc:
                raise ConfigError(f"{key}: cannot read {path} ({exc.strerror})") from None
            if not material:
                raise ConfigError(f"{key}: {path} is empty")
        try:
            material.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigError(f"{key}: key material must be ASCII ({kind}:{ref})") from None
        return Secret(material, f"{kind}:{ref}")
