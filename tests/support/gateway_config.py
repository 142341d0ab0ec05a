"""A one-bot gateway config in front of a standalone paper exchange (`states.simple()`), for
tests that run `margin-gate serve` as a real process."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.unit.paper import states

PREFIXES = ("papi", "fapi", "dapi", "api", "sapi")


def one_bot_config(
    tmp_path: Path,
    *,
    paper_port: int,
    gw_port: int,
    bot: tuple[str, str, str],
    server: str = 'log_level = "warning"',
    upstream_timeout_s: float = 5.0,
) -> Path:
    """Write paper.json, the secrets and gw.toml into `tmp_path`; `bot` is (name, key, secret),
    `server` extra lines of `[server]`. The audit log goes to `tmp_path / "audit"`."""
    name, key, secret = bot
    (tmp_path / "paper.json").write_bytes(orjson.dumps(states.simple()))
    (tmp_path / "exchange.secret").write_text(states.SECRET)
    (tmp_path / "bot.secret").write_text(secret)
    urls = "\n".join(f'{p} = "http://127.0.0.1:{paper_port}"' for p in PREFIXES)
    config = tmp_path / "gw.toml"
    config.write_text(f"""
[server]
port = {gw_port}
{server}
[upstream]
timeout_s = {upstream_timeout_s}
[upstream.urls]
{urls}
[accounts.main]
api_key = "{states.API_KEY}"
api_secret = {{ file = "exchange.secret" }}
[bots.{name}]
api_key = "{key}"
secret = {{ file = "bot.secret" }}
[state]
ws_ping_interval_s = 0.5
backoff_initial_s = 0.05
[audit]
dir = "audit"
""")
    return config
