"""Audit test builders: realistic records, a started file-only AuditLog, and line surgery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from margin_gate.audit import AuditConfig
from margin_gate.audit import AuditLog
from margin_gate.audit import AuditRecord
from margin_gate.audit.reader import audit_files

SECRET_SIGNATURE = "5f2b8c0d9e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"
SECRET_LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


def order_params(**extra: str) -> dict[str, str]:
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "60000.0",
        "newClientOrderId": "bot1-7f3a",
        "recvWindow": "5000",
        "timestamp": "1700000000000",
        "signature": SECRET_SIGNATURE,
    }
    params.update(extra)
    return params


def decision(i: int = 0, *, bot: str = "bot1", account: str = "acct1", **extra: Any) -> AuditRecord:
    rec: dict[str, Any] = {
        "kind": "decision",
        "request_id": f"req-{i}",
        "bot": bot,
        "account": account,
        "method": "POST",
        "endpoint": "/papi/v1/um/order",
        "params": order_params(),
        "decision": "accept",
        "rule": None,
        "code": None,
        "msg": None,
        "unimmr_before": "1.8421",
        "unimmr_after": "1.7993",
        "buffer": "0.2993",
        "state_age_ms": 120,
        "in_flight": 2,
    }
    rec.update(extra)
    return rec  # type: ignore[return-value]


def outcome(i: int = 0, *, bot: str = "bot1", account: str = "acct1", **extra: Any) -> AuditRecord:
    rec: dict[str, Any] = {
        "kind": "outcome",
        "request_id": f"req-{i}",
        "bot": bot,
        "account": account,
        "method": "POST",
        "endpoint": "/papi/v1/um/order",
        "decision": "accept",
        "exchange_status": 200,
        "exchange_code": None,
        "order_id": 8389765519417876000 + i,
        "client_order_id": "bot1-7f3a",
        "latency_check_us": 41,
        "latency_upstream_us": 12850,
    }
    rec.update(extra)
    return rec  # type: ignore[return-value]


def file_config(directory: Path, **overrides: Any) -> AuditConfig:
    settings: dict[str, Any] = {"replica": "r1", "dir": directory, "fsync_interval_ms": 10}
    settings.update(overrides)
    return AuditConfig(**settings)


async def write_log(directory: Path, n: int, **overrides: Any) -> AuditLog:
    """A closed file-only log with n decision records (plus the open and close events)."""
    log = AuditLog(file_config(directory, **overrides))
    await log.start()
    for i in range(n):
        log.write(decision(i))
    await log.close()
    return log


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def only_file(directory: Path) -> Path:
    (path,) = audit_files(directory)
    return path


def records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in audit_files(directory):
        out.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return out
