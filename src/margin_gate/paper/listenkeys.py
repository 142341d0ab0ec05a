"""PM user-stream listenKeys: one active key per account, valid 60 minutes after the last
POST/PUT (binance-pm.md §4.1). Pure bookkeeping on millisecond timestamps."""

from __future__ import annotations

import random
import string

__all__ = ["VALIDITY_MS", "ListenKeys"]

VALIDITY_MS = 60 * 60 * 1000
_ALPHABET = string.ascii_letters + string.digits


class ListenKeys:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed ^ 0x5EED)
        self._expiry: dict[str, int] = {}

    def create(self, now_ms: int) -> str:
        """POST: the active key (extended) or a new one."""
        for key, expiry in self._expiry.items():
            if expiry > now_ms:
                self._expiry[key] = now_ms + VALIDITY_MS
                return key
        key = "".join(self._rng.choice(_ALPHABET) for _ in range(64))
        self._expiry = {key: now_ms + VALIDITY_MS}
        return key

    def active(self, now_ms: int) -> str | None:
        return next((k for k, exp in self._expiry.items() if exp > now_ms), None)

    def keepalive(self, key: str, now_ms: int) -> bool:
        if self._expiry.get(key, 0) <= now_ms:
            return False
        self._expiry[key] = now_ms + VALIDITY_MS
        return True

    def close(self, key: str) -> bool:
        return self._expiry.pop(key, None) is not None

    def is_valid(self, key: str, now_ms: int) -> bool:
        return self._expiry.get(key, 0) > now_ms

    def pop_expired(self, now_ms: int) -> list[str]:
        gone = [k for k, exp in self._expiry.items() if exp <= now_ms]
        for key in gone:
            del self._expiry[key]
        return gone

    def expire(self, key: str | None = None) -> list[str]:
        """Force expiry of `key` (default: every key); returns the keys expired."""
        gone = [k for k in self._expiry if key is None or k == key]
        for k in gone:
            del self._expiry[k]
        return gone

    def clear(self) -> None:
        self._expiry.clear()
