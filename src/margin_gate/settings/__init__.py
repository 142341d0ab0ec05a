"""Gateway settings: one TOML file read once at start-up into frozen dataclasses.

Every section and key is declared in settings/loader.py; an unknown key, a missing secret or a
bad value raises `ConfigError` naming the key (`accounts.main.api_secret: environment variable
MG_MAIN_SECRET is not set`). Secrets (exchange secrets, bot secrets and public keys) come only
from `{env = "NAME"}` or `{file = "path"}` (relative to the config file); an inline secret is
refused. Values that hold key material are `Secret`s whose repr is masked. The schema, key by
key, is in docs/configuration.md.

    model.py    the values: Settings and its sections, Account, BotSettings, Profile, Secret
    loader.py   load_settings(path) / parse_settings(dict): one function per section
    _table.py   Table: typed, key-tracking reads of one TOML table
"""

from margin_gate.settings.loader import load_settings
from margin_gate.settings.loader import parse_settings
from margin_gate.settings.model import API_KEY_PATTERN
from margin_gate.settings.model import DEFAULT_UPSTREAMS
from margin_gate.settings.model import KEY_KINDS
from margin_gate.settings.model import Account
from margin_gate.settings.model import AuditSettings
from margin_gate.settings.model import AuthSettings
from margin_gate.settings.model import BotSettings
from margin_gate.settings.model import ConfigError
from margin_gate.settings.model import Profile
from margin_gate.settings.model import Secret
from margin_gate.settings.model import ServerSettings
from margin_gate.settings.model import Settings
from margin_gate.settings.model import StateBackend
from margin_gate.settings.model import StateSettings
from margin_gate.settings.model import UpstreamClient
from margin_gate.settings.model import UpstreamSettings
from margin_gate.settings.model import UpstreamTarget
from margin_gate.settings.model import mask

__all__ = [
    "API_KEY_PATTERN",
    "DEFAULT_UPSTREAMS",
    "KEY_KINDS",
    "Account",
    "AuditSettings",
    "AuthSettings",
    "BotSettings",
    "ConfigError",
    "Profile",
    "Secret",
    "ServerSettings",
    "Settings",
    "StateBackend",
    "StateSettings",
    "UpstreamClient",
    "UpstreamSettings",
    "UpstreamTarget",
    "load_settings",
    "mask",
    "parse_settings",
]
