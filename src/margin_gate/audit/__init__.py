"""The audit log: every decision and outcome, hash-chained, to JSONL files and a Redis stream.

The gateway uses `AuditLog` (start / write / accepting_risk / close), `AuditConfig` and the
`AuditRecord` TypedDict; `redact` is applied by `write` and exported for anyone logging params.
See docs/audit.md.
"""

from margin_gate.audit.config import AuditConfig
from margin_gate.audit.config import Policy
from margin_gate.audit.log import AuditClosedError
from margin_gate.audit.log import AuditLog
from margin_gate.audit.log import AuditWriteError
from margin_gate.audit.record import AuditRecord
from margin_gate.audit.record import Decision
from margin_gate.audit.record import Kind
from margin_gate.audit.record import redact

__all__ = [
    "AuditClosedError",
    "AuditConfig",
    "AuditLog",
    "AuditRecord",
    "AuditWriteError",
    "Decision",
    "Kind",
    "Policy",
    "redact",
]
