"""Request signatures as Binance computes them (binance-pm.md §3.1-§3.3). Pure: no I/O, no clock.

- HMAC-SHA256: hex digest of the signed payload; compared case-insensitively (hex).
- Ed25519 and RSA (PKCS#1 v1.5, SHA-256): base64 signatures, case-sensitive.
- Timing: accept when `timestamp < now + 1000` and `now - timestamp <= recvWindow`;
  `recvWindow` defaults to 5000 ms and may not exceed 60000 ms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Literal
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from margin_gate.wire.errors import BAD_RECV_WINDOW
from margin_gate.wire.errors import INVALID_TIMESTAMP
from margin_gate.wire.errors import MANDATORY_PARAM
from margin_gate.wire.errors import BinanceError

__all__ = [
    "DEFAULT_RECV_WINDOW_MS",
    "MAX_FUTURE_MS",
    "MAX_RECV_WINDOW_MS",
    "KeyKind",
    "Signer",
    "Verifier",
    "check_timing",
    "hmac_sha256_hex",
    "load_signer",
    "load_verifier",
]

KeyKind = Literal["hmac", "ed25519", "rsa"]

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
MAX_FUTURE_MS = 1000  # a timestamp more than 1 s ahead of the server is refused


def hmac_sha256_hex(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


class Signer(Protocol):
    """Signs an outgoing payload the way Binance expects for this key kind."""

    @property
    def kind(self) -> KeyKind: ...

    def sign(self, payload: bytes) -> str: ...


class Verifier(Protocol):
    """Checks an incoming signature over a payload, in constant time where it matters."""

    @property
    def kind(self) -> KeyKind: ...

    def verify(self, payload: bytes, signature: str) -> bool: ...


@dataclass(frozen=True, slots=True, repr=False)
class _Hmac:
    secret: bytes
    kind: KeyKind = "hmac"

    def sign(self, payload: bytes) -> str:
        return hmac_sha256_hex(self.secret, payload)

    def verify(self, payload: bytes, signature: str) -> bool:
        expected = hmac_sha256_hex(self.secret, payload)
        # Hex is case-insensitive at Binance (§3.1); compare_digest is constant-time.
        return hmac.compare_digest(expected, signature.lower())

    def __repr__(self) -> str:
        return "HmacKey(***)"


@dataclass(frozen=True, slots=True, repr=False)
class _Ed25519Signer:
    key: Ed25519PrivateKey
    kind: KeyKind = "ed25519"

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self.key.sign(payload)).decode("ascii")

    def __repr__(self) -> str:
        return "Ed25519Key(***)"


@dataclass(frozen=True, slots=True, repr=False)
class _Ed25519Verifier:
    key: Ed25519PublicKey
    kind: KeyKind = "ed25519"

    def verify(self, payload: bytes, signature: str) -> bool:
        raw = _b64(signature)
        if raw is None:
            return False
        try:
            self.key.verify(raw, payload)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True, repr=False)
class _RsaSigner:
    key: RSAPrivateKey
    kind: KeyKind = "rsa"

    def sign(self, payload: bytes) -> str:
        sig = self.key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(sig).decode("ascii")

    def __repr__(self) -> str:
        return "RsaKey(***)"


@dataclass(frozen=True, slots=True, repr=False)
class _RsaVerifier:
    key: RSAPublicKey
    kind: KeyKind = "rsa"

    def verify(self, payload: bytes, signature: str) -> bool:
        raw = _b64(signature)
        if raw is None:
            return False
        try:
            self.key.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def _b64(signature: str) -> bytes | None:
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None


def load_signer(kind: KeyKind, material: bytes) -> Signer:
    """A signer from a secret: HMAC secret bytes, or a PEM private key (Ed25519 / RSA)."""
    if kind == "hmac":
        return _Hmac(material.strip())
    key = serialization.load_pem_private_key(material, password=None)
    if kind == "ed25519" and isinstance(key, Ed25519PrivateKey):
        return _Ed25519Signer(key)
    if kind == "rsa" and isinstance(key, RSAPrivateKey):
        return _RsaSigner(key)
    raise ValueError(f"PEM key is not an {kind} private key")


def load_verifier(kind: KeyKind, material: bytes) -> Verifier:
    """A verifier from an HMAC secret or a PEM public key (Ed25519 / RSA)."""
    if kind == "hmac":
        return _Hmac(material.strip())
    key = serialization.load_pem_public_key(material)
    if kind == "ed25519" and isinstance(key, Ed25519PublicKey):
        return _Ed25519Verifier(key)
    if kind == "rsa" and isinstance(key, RSAPublicKey):
        return _RsaVerifier(key)
    raise ValueError(f"PEM key is not an {kind} public key")


def _as_int_ms(text: str) -> int | None:
    if text.isascii() and text.isdigit():  # the usual case: skip Decimal
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return int(value)


def check_timing(
    timestamp: str | None, recv_window: str | None, now_ms: int
) -> BinanceError | None:
    """Binance's timing rule (§3.3); None when the request is in its window."""
    if timestamp is None or timestamp == "":
        return MANDATORY_PARAM.with_msg(
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        )
    ts = _as_int_ms(timestamp)
    if ts is None:
        return MANDATORY_PARAM.with_msg(
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        )
    window = DEFAULT_RECV_WINDOW_MS
    if recv_window is not None and recv_window != "":
        parsed = _as_int_ms(recv_window)
        if parsed is None or parsed <= 0:
            return MANDATORY_PARAM.with_msg("Parameter 'recvWindow' was malformed.")
        if parsed > MAX_RECV_WINDOW_MS:
            return BAD_RECV_WINDOW
        window = parsed
    if ts >= now_ms + MAX_FUTURE_MS:
        return INVALID_TIMESTAMP.with_msg(
            "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now_ms - ts > window:
        return INVALID_TIMESTAMP
    return None
