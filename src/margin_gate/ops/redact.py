"""Which strings are secret, and masking them: the backstop behind logs and metric labels.

Key material is kept out of logs and metrics by construction (records carry names, never keys;
`Secret.__repr__` shows its source only). `Redactor` is the backstop: given the configured key
material it masks any occurrence in a finished log line or a label value, so a mistake in some
log call cannot leak a key. `secrets_from_settings` collects that material from `Settings`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from margin_gate.settings import Secret

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor", "secrets_from_settings"]

MASK = "***"
# Shorter strings are not masked: masking "abc" everywhere would shred every log line, and
# no real key is that short (bot keys are 8-128 characters, Binance keys 64).
MIN_SECRET_LENGTH = 8


class Redactor:
    """Masks every occurrence of the given secrets (str or bytes; shorter than
    `MIN_SECRET_LENGTH` ignored) in text. Cheap when nothing matches: one regex search."""

    __slots__ = ("_bytes_pattern", "_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str | bytes] = ()) -> None:
        texts: set[str] = set()
        for s in secrets:
            text = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
            text = text.strip()
            if len(text) >= MIN_SECRET_LENGTH:
                texts.add(text)
        self._secrets = frozenset(texts)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(texts, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes_pattern = (
            re.compile(b"|".join(re.escape(t.encode()) for t in ordered)) if ordered else None
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __len__(self) -> int:
        return len(self._secrets)

    def extended(self, secrets: Iterable[str | bytes]) -> Redactor:
        """A redactor for these secrets and the new ones."""
        return Redactor([*self._secrets, *secrets])

    def contains_secret(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def mask(self, text: str) -> str:
        """`text` with every secret replaced by `MASK`."""
        pattern = self._pattern
        if pattern is None or pattern.search(text) is None:
            return text
        return pattern.sub(MASK, text)

    def mask_bytes(self, data: bytes) -> bytes:
        """`mask` for UTF-8 bytes (a finished log line)."""
        pattern = self._bytes_pattern
        if pattern is None or pattern.search(data) is None:
            return data
        return pattern.sub(MASK.encode(), data)


def secrets_from_settings(settings: Any) -> frozenset[str]:
    """Every piece of key material reachable from `settings`: each `Secret` value anywhere
    (exchange and bot API keys, env/file secrets), HMAC secrets held by signers/verifiers,
    the base64 body of PEM private keys, and passwords in URLs (e.g. `state.redis_url`)."""
    found: set[str] = set()
    _walk(settings, found, set())
    return frozenset(s for s in found if len(s) >= MIN_SECRET_LENGTH)


def _walk(value: Any, found: set[str], seen: set[int]) -> None:
    if id(value) in seen or value is None or isinstance(value, bool | int | float):
        return
    seen.add(id(value))
    if isinstance(value, Secret):
        _add_material(value.value, found)
        return
    if isinstance(value, str):
        _add_url_password(value, found)
        return
    if isinstance(value, bytes):
        return
    if isinstance(value, Mapping):
        for item in value.values():
            _walk(item, found, seen)
        return
    if isinstance(value, tuple | list | frozenset | set):
        for item in value:
            _walk(item, found, seen)
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _walk(getattr(value, f.name, None), found, seen)
    _key_holder(value, found)


def _key_holder(value: Any, found: set[str]) -> None:
    """Signers and verifiers (auth/signing.py) keep an HMAC `secret` or a private `key`."""
    secret = getattr(value, "secret", None)
    if isinstance(secret, bytes | str):
        _add_material(secret, found)
    key = getattr(value, "key", None)
    if key is not None and hasattr(key, "private_bytes"):
        try:
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        except (TypeError, ValueError):
            return
        _add_material(pem, found)


def _add_material(material: bytes | str, found: set[str]) -> None:
    text = material.decode("utf-8", "replace") if isinstance(material, bytes) else material
    text = text.strip()
    if not text:
        return
    found.add(text)
    if "-----BEGIN" in text:
        # A PEM: mask each base64 line too, since a log may show a fragment of it.
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("-----"):
                found.add(line)


def _add_url_password(text: str, found: set[str]) -> None:
    if "://" not in text or "@" not in text:
        return
    try:
        password = urlsplit(text).password
    except ValueError:
        return
    if password:
        found.add(password)
