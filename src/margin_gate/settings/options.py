"""Pass-through option tables: `[state]` and `[audit]` keys that map 1:1 onto StateConfig and
AuditConfig fields. Only keys present in the file are read (the dataclass holds the defaults);
a wrong type or range fails naming the key, an unknown key fails in `Table.close()`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from margin_gate.settings._table import Table

__all__ = ["AUDIT_OPTIONS", "STATE_OPTIONS", "read_options"]

Kind = Literal["int", "float", "decimal", "bool", "str", "str_list", "choice_policy", "path"]
_BIG = 10**12

STATE_OPTIONS: Mapping[str, Kind] = {
    "max_price_age_ms": "int",
    "max_account_age_ms": "int",
    "reservation_ttl_ms": "int",
    "lease_ttl_ms": "int",
    "reconcile_interval_s": "float",
    "drift_bound": "decimal",
    "fail_closed_on_drift": "bool",
    "listen_key_keepalive_s": "float",
    "stream_rotate_s": "float",
    "ws_ping_interval_s": "float",
    "backoff_initial_s": "float",
    "backoff_max_s": "float",
    "asset_index_interval_s": "float",
    "price_rest_interval_s": "float",
    "http_timeout_s": "float",
    "user_stream_url": "str",
    "market_stream_url": "str",
    "market_stream_path": "str",
    "mark_stream_suffix": "str",
    "extra_symbols": "str_list",
}

AUDIT_OPTIONS: Mapping[str, Kind] = {
    "prefix": "str",
    "max_bytes": "int",
    "rotate_interval_s": "int",  # 0 = size only
    "fsync_interval_ms": "int",
    "queue_max": "int",
    "policy": "choice_policy",
    "spill_path": "path",
    "stream_maxlen": "int",  # 0 = never trim
    "batch_max": "int",
    "stream_linger_ms": "int",
    "redis_timeout_s": "float",
    "heartbeat_s": "float",
}


def read_options(t: Table, spec: Mapping[str, Kind]) -> dict[str, object]:
    """The keys of `spec` present in `t`, typed (paths are resolved by the caller)."""
    present = set(t.names())
    out: dict[str, object] = {}
    for name, kind in spec.items():
        if name not in present:
            continue
        if kind == "int":
            out[name] = t.int_(name, 0, lo=0, hi=_BIG)
        elif kind == "float":
            out[name] = t.float_(name, 0.0, lo=0.0, hi=float(_BIG))
        elif kind == "decimal":
            out[name] = t.opt_decimal(name)
        elif kind == "bool":
            out[name] = t.bool_(name, False)
        elif kind == "str_list":
            out[name] = tuple(t.opt_str_list(name) or ())
        elif kind == "choice_policy":
            out[name] = t.choice(name, ("spill", "refuse"), "spill")
        elif kind == "path":
            out[name] = t.opt_path(name)
        else:
            out[name] = t.str_(name)
    return out
