"""Reservation lifecycle rules, pure (the Redis Lua scripts implement the same rules):

    reserve ─► in_flight ─settle(rejected)─────────────► released
                  ├─settle(unknown)──► unknown ──┐
                  └─settle(accepted)─► accepted ─┤
                                                 ├─ stream reports the client id ─► converted
                                                 │  (its open order / pending fill counts now)
                                                 ├─ REST load started after answer ─► dropped
                                                 └─ expires_ms passed ─► expired
- Orders are confirmed by any user-stream event carrying their client id (`c`, `C`, `caid`,
  `so.c`), whatever the answer, even before it (the stream can beat the REST answer).
- Manual loans have no client id on the stream: an accepted loan is confirmed by a
  `liabilityChange` of its asset, or at settle time when one newer than the reservation has
  already been applied.
- Unknown-fate and unanswered reservations survive a reconcile (the order may still arrive).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import replace

from margin_gate.margin.legs import Leg
from margin_gate.state.types import Outcome
from margin_gate.state.types import Reservation

__all__ = [
    "HALF",
    "confirmed_by",
    "dropped_by_load",
    "expired",
    "new_reservation",
    "settled",
    "split_nonce",
]

HALF = 1 << 52  # a nonce is two 52-bit halves: integers Lua's doubles hold exactly
_random = random.Random()  # seeded from os.urandom


def split_nonce(nonce: int) -> tuple[int, int]:
    return (nonce >> 52) % HALF, nonce % HALF


def new_reservation(
    rid: str,
    legs: Sequence[Leg],
    now_ms: int,
    ttl_ms: int,
    *,
    client_id: str | None = None,
    bot: str | None = None,
) -> Reservation:
    """A reservation for order `rid` (its clientOrderId unless a modify or loan)."""
    return Reservation(
        id=rid,
        legs=tuple(legs),
        created_ms=now_ms,
        expires_ms=now_ms + ttl_ms,
        client_id=client_id,
        bot=bot,
        nonce=_random.getrandbits(104),
    )


def confirmed_by(reservations: Iterable[Reservation], keys: set[str]) -> list[str]:
    """Ids converted by stream events that reported `keys` (`c:<id>`, `l:<asset>`)."""
    found = []
    for r in reservations:
        key = r.match_key
        if key in keys and (key.startswith("c:") or r.state == "accepted"):
            found.append(r.id)
    return found


def expired(reservations: Iterable[Reservation], now_ms: int) -> list[str]:
    return [r.id for r in reservations if r.expires_ms <= now_ms]


def dropped_by_load(reservations: Iterable[Reservation], fetch_started_ms: int) -> list[str]:
    """Accepted reservations answered before a REST load started: the load contains them."""
    return [
        r.id
        for r in reservations
        if r.state == "accepted" and r.answered_ms is not None and r.answered_ms < fetch_started_ms
    ]


def settled(
    r: Reservation,
    outcome: Outcome,
    now_ms: int,
    order_id: str | None,
    liability_times: Mapping[str, int],
) -> Reservation | None:
    """The reservation after the exchange's answer; None when it is released."""
    if outcome == "rejected":
        return None
    asset = r.loan_asset
    loan = outcome == "accepted" and r.client_id is None and asset is not None
    if loan and liability_times.get(asset or "", 0) >= r.created_ms:
        return None  # the stream already reported the loan
    return replace(r, state=outcome, answered_ms=now_ms, order_id=order_id or r.order_id)
