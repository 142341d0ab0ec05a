"""Benchmark fixtures: paper exchange states, gateway configs (TOML), and signed order files.

Orders are distinct signed requests (the gateway refuses a replayed signature and reserves
under each newClientOrderId), written one per line for wrk's Lua replay. The order is an IOC
LIMIT BUY of 0.002 BTCUSDT at 62,000 (mark 65,000: inside the 5 % price filter and the
profile's collar, never marketable): the paper exchange answers it and expires it at once, so
the account never changes and the stream's NEW/EXPIRED events settle each reservation — a run
can last as long as it likes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
PAPER_STATE = REPO / "config" / "paper-state.json"
ORDER_PATH = "/papi/v1/um/order"

BOT_KEY = "benchBotKey0123456789abcdefABCDEF0123456789abcdefABCDEF012345"
BOT_SECRET = "benchBotSecret0123456789abcdefABCDEF0123456789abcdefABCDEF0123"
GATEWAY_ENV_KEY = "MG_BENCH_BOT_KEY"
GATEWAY_ENV_SECRET = "MG_BENCH_BOT_SECRET"
ORDER_HEAD = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.002&price=62000"


def paper_keys() -> dict[str, dict[str, str]]:
    state = orjson.loads(PAPER_STATE.read_bytes())
    return {k["name"]: k for k in state["keys"]}


def bench_paper_state(path: Path) -> dict[str, dict[str, str]]:
    """The shipped paper state with 10 M USDT more, so uniMMR stays far above any profile
    floor. Returns the paper keys: name -> {api_key, secret}."""
    state = orjson.loads(PAPER_STATE.read_bytes())
    usdt = state["account"]["balances"]["USDT"]
    usdt["um_wallet_balance"] = str(Decimal(usdt.get("um_wallet_balance", "0")) + 10_000_000)
    path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    return {k["name"]: k for k in state["keys"]}


def rss_paper_state(path: Path, *, accounts: int, positions: int) -> list[dict[str, str]]:
    """A paper account with `positions` UM positions (the shipped BTC/ETH ones plus synthetic
    `S<i>USDT` symbols with BTCUSDT's filters and brackets) and one key per gateway account
    (every key trades the one paper account, so each gateway account loads all positions)."""
    state = orjson.loads(PAPER_STATE.read_bytes())
    um = state["markets"]["um"]
    template = um["BTCUSDT"]
    held = state["account"]["um_positions"]
    for i in range(positions - len(held)):
        symbol, base = f"S{i}USDT", f"S{i}"
        price = Decimal(1000 + i)
        um[symbol] = {**template, "base": base, "quote": "USDT"}
        um[symbol]["filters"] = {
            **template["filters"],
            "min_price": "1",
            "max_price": "1000000",
            "min_notional": "5",
        }
        state["prices"]["mark"][symbol] = str(price)
        state["prices"]["index"][symbol] = str(price)
        state["prices"]["asset_index"][base] = str(price)
        held.append(
            {"symbol": symbol, "position_side": "BOTH", "amount": str(1 if i % 2 else -1),
             "entry_price": str(price - 3)}
        )  # fmt: skip
    usdt = state["account"]["balances"]["USDT"]
    usdt["um_wallet_balance"] = str(Decimal(usdt.get("um_wallet_balance", "0")) + 10_000_000)
    keys = []
    for n in range(accounts):
        key = {
            "name": f"rss-{n}",
            "api_key": f"RSSaccount{n:02d}Key" + "0" * 40,
            "type": "hmac",
            "secret": f"RSSaccount{n:02d}Secret" + "1" * 40,
        }
        keys.append(key)
        state["keys"].append(key)
    path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    return keys


def gateway_config(
    *,
    port: int,
    upstream_url: str,
    workdir: Path,
    enforce: bool,
    store: str = "memory",
    redis_url: str | None = None,
    key_prefix: str = "mgbench",
    workers: int = 1,
    accounts: dict[str, tuple[str, str]] | None = None,
    account_key: tuple[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(config, environment) for `margin-gate serve`. `enforce`: the order path (RiskGate: a
    real profile, live state, audit file) or the pass-through (`[policy] enforce = false`).
    One bot `bench` on account `main` (`account_key`), or one bot per entry of `accounts`
    (name -> (api key, secret)); bots `bench`, `bench1`, ... share the bench bot key pattern."""
    env: dict[str, str] = {}
    acct_map = accounts or {"main": account_key or ("", "")}
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port, "workers": workers, "log_level": "warning"},
        "upstream": {
            "target": "binance",
            "client": "h1",
            "urls": {p: upstream_url for p in ("papi", "fapi", "dapi", "api", "sapi")},
        },
        "policy": {"enforce": enforce},
        "profiles": {
            "bench": {
                "min_unimmr_after": "1.5",
                "warn_unimmr_below": "2.0",
                "market_slippage": "0.01",
                "max_order_notional": "1000000",
                "price_collar_bps": "500",
            }
        },
        "accounts": {},
        "bots": {},
    }
    if enforce:
        config["state"] = {"backend": store, "key_prefix": key_prefix}
        if store == "redis":
            config["state"]["redis_url"] = redis_url
        config["audit"] = {"dir": str(workdir / "audit"), "replica": f"bench-{port}"}
    for i, (name, (api_key, secret)) in enumerate(acct_map.items()):
        var = f"MG_BENCH_ACCT{i}"
        env[f"{var}_KEY"], env[f"{var}_SECRET"] = api_key, secret
        config["accounts"][name] = {
            "api_key": {"env": f"{var}_KEY"},
            "api_secret": {"env": f"{var}_SECRET"},
        }
        bot = "bench" if i == 0 else f"bench{i}"
        env[f"MG_BENCH_BOT{i}_KEY"] = bot_key(i)
        env[f"MG_BENCH_BOT{i}_SECRET"] = BOT_SECRET
        config["bots"][bot] = {
            "api_key": {"env": f"MG_BENCH_BOT{i}_KEY"},
            "secret": {"env": f"MG_BENCH_BOT{i}_SECRET"},
            "account": name,
            "profile": "bench",
        }
    return config, env


def bot_key(i: int = 0) -> str:
    return BOT_KEY if i == 0 else f"{BOT_KEY[:-4]}{i:04d}"


def write_toml(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(_toml(config))
    return path


def _toml(config: dict[str, Any], prefix: str = "") -> str:
    scalars, tables = [], []
    for key, value in config.items():
        if isinstance(value, dict) and not _inline(value):
            tables.append((key, value))
        else:
            scalars.append(f"{key} = {_value(value)}")
    out = ""
    if scalars:
        out += (f"[{prefix}]\n" if prefix else "") + "\n".join(scalars) + "\n\n"
    for key, value in tables:
        out += _toml(value, f"{prefix}.{key}" if prefix else key)
    return out


def _inline(value: dict[str, Any]) -> bool:
    return set(value) <= {"env", "file"} and len(value) == 1


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def signed_orders(path: Path, count: int, tag: str, secret: str, head: str = ORDER_HEAD) -> None:
    """`count` distinct signed order bodies, one per line (recvWindow 60 s from now)."""
    key = secret.encode()
    ts = int(time.time() * 1000)
    lines = []
    for i in range(count):
        payload = f"{head}&newClientOrderId={tag}-{i:07d}&recvWindow=60000&timestamp={ts}"
        sig = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
        lines.append(f"{payload}&signature={sig}\n")
    path.write_text("".join(lines))


def signed_query(secret: str, params: str) -> str:
    payload = f"{params}&recvWindow=60000&timestamp={int(time.time() * 1000)}"
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}&signature={sig}"
