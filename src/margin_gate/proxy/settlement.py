"""How an exchange answer settles each reservation of an order (docs/policy.md, docs/state.md):

| answer | reservation |
|---|---|
| 2xx | accepted (orderId kept), converted when the user stream reports the order |
| 4xx with a Binance code (or no code) | rejected — released now |
| 5xx, -1006 / -1007, a timeout (fate unknown) | unknown — kept until the stream or TTL settles it |
| not sent (upstream unreachable) | rejected — released |

Batch orders: a 2xx answer is a list, settled element by element (an element with `code` and no
`orderId` was refused).
"""

from __future__ import annotations

import orjson

from margin_gate.proxy.gate import Outcome
from margin_gate.state.types import Outcome as StateOutcome

__all__ = ["settlements"]

_UNKNOWN_CODES = frozenset({-1006, -1007})


def settlements(
    ids: tuple[str, ...], outcome: Outcome
) -> list[tuple[str, StateOutcome, str | None]]:
    """(reservation id, outcome, order id) per reservation, by the mapping in the module doc."""
    if not ids:
        return []
    if outcome.fate == "not_sent":
        return [(rid, "rejected", None) for rid in ids]
    if outcome.fate != "answered":
        return [(rid, "unknown", None) for rid in ids]
    status, code = outcome.status, outcome.code
    if status >= 500 or code in _UNKNOWN_CODES:
        return [(rid, "unknown", None) for rid in ids]
    if not 200 <= status < 300:
        return [(rid, "rejected", None) for rid in ids]
    if len(ids) > 1:
        return _batch(ids, outcome.body)
    oid = outcome.order_id
    return [(ids[0], "accepted", None if oid is None else str(oid))]


def _batch(ids: tuple[str, ...], body: bytes) -> list[tuple[str, StateOutcome, str | None]]:
    try:
        answers = orjson.loads(body)
    except orjson.JSONDecodeError:
        answers = None
    if not isinstance(answers, list) or len(answers) != len(ids):
        return [(rid, "unknown", None) for rid in ids]
    out: list[tuple[str, StateOutcome, str | None]] = []
    for rid, answer in zip(ids, answers, strict=True):
        if isinstance(answer, dict) and "code" in answer and "orderId" not in answer:
            out.append((rid, "rejected", None))
        else:
            oid = answer.get("orderId") if isinstance(answer, dict) else None
            out.append((rid, "accepted", None if oid is None else str(oid)))
    return out
