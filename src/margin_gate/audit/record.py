"""The audit record: its fields (`AuditRecord`), their order, timestamps and redaction.

One record is one JSON object on one line. Numbers that are Decimals upstream (uniMMR, buffer)
are strings, as in the exchange's own JSON. `docs/audit.md` documents every field.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Literal
from typing import Required
from typing import TypedDict

__all__ = [
    "CHAIN_FIELDS",
    "CLOSED_MSG",
    "FIELDS",
    "OPENED_MSG",
    "REDACTED_KEYS",
    "AuditRecord",
    "Decision",
    "Kind",
    "iso_ms",
    "redact",
]

Kind = Literal[
    "decision",  # what the gateway decided, written before the request is forwarded
    "outcome",  # what the exchange answered, written before the bot gets the reply
    "event",  # anything else: audit log opened/closed, policy changes, operator actions
]

Decision = Literal[
    "accept",  # forwarded as sent
    "reject",  # refused by a rule; never forwarded
    "warn",  # forwarded, but a soft threshold was crossed
    "pass",  # not an order (pass-through read), recorded when configured
]


class AuditRecord(TypedDict, total=False):
    """One audit line. Only `kind` is required from the caller; `AuditLog.write` fills in
    `ts`, `ts_ms`, `replica` and the chain fields (`writer`, `seq`, `prev`, `hash`)."""

    # -- when and where
    ts: str  # ISO-8601 UTC with milliseconds, "2025-01-31T12:00:00.123Z"
    ts_ms: int  # the same instant in epoch milliseconds
    kind: Required[Kind]
    request_id: str
    replica: str
    # -- who asked for what
    bot: str
    account: str
    method: str
    endpoint: str
    params: dict[str, str]  # as sent by the bot, minus `signature` and secrets (see redact)
    # -- what the gateway knew and decided
    decision: Decision | str
    rule: str | None
    code: int | None
    msg: str | None
    unimmr_before: str | None
    unimmr_after: str | None
    buffer: str | None
    state_age_ms: int | None
    in_flight: int | None
    # -- what the exchange answered (outcome records)
    exchange_status: int | None
    exchange_code: int | None
    order_id: int | None
    client_order_id: str | None
    latency_check_us: int | None
    latency_upstream_us: int | None
    # -- tamper evidence (set by the chain; callers leave them out)
    writer: str
    seq: int
    prev: str
    hash: str


CHAIN_FIELDS = ("writer", "seq", "prev", "hash")
# `msg` of the event records that open and close each writer's chain; a chain without the
# closing one ended in a crash (or lost its tail).
OPENED_MSG = "audit log opened"
CLOSED_MSG = "audit log closed"
# Column order for CSV export and the docs: the order of the TypedDict above.
FIELDS: tuple[str, ...] = tuple(AuditRecord.__annotations__)

# Parameter names never written to the log, compared case-insensitively. `signature` proves
# the bot's key; the others are credentials some clients put in parameters (listenKey grants
# the account's user-data stream).
REDACTED_KEYS = frozenset(
    {
        "signature",
        "apikey",
        "api_key",
        "x-mbx-apikey",
        "secret",
        "secretkey",
        "secret_key",
        "apisecret",
        "api_secret",
        "password",
        "passphrase",
        "token",
        "listenkey",
    }
)


def redact(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """`params` without `signature` or any other key in `REDACTED_KEYS` (any case), as a new
    dict (the last value of a repeated name wins)."""
    out = dict(params)
    if _KEPT.issuperset(out):  # every name already seen and kept: the usual order
        return out
    out = {k: v for k, v in out.items() if k.lower() not in REDACTED_KEYS}
    if len(_KEPT) < 4096:  # bounded, should a client invent names
        _KEPT.update(out)
    return out


# Parameter names seen and kept: a set test instead of a lower() per name and order.
_KEPT: set[str] = set()


_iso_cache: tuple[int, str] = (-1, "")


def iso_ms(ts_ms: int) -> str:
    """Epoch milliseconds as "YYYY-MM-DDTHH:MM:SS.mmmZ" (the seconds prefix is cached)."""
    global _iso_cache
    sec, ms = divmod(ts_ms, 1000)
    cached_sec, prefix = _iso_cache
    if sec != cached_sec:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        _iso_cache = (sec, prefix)
    return f"{prefix}.{ms:03d}Z"
