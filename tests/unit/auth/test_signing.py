"""auth/signing.py: Binance's published HMAC vectors, asymmetric round trips, timing rule."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from margin_gate.auth.signing import check_timing
from margin_gate.auth.signing import hmac_sha256_hex
from margin_gate.auth.signing import load_signer
from margin_gate.auth.signing import load_verifier

# binance-pm.md §3.1 test vectors (fapi and spot docs reproduce; the PM doc's does not).
VECTORS = [
    (
        "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943",
        "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
    ),
    (
        "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559",
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
    ),
    (
        "YtP1BudNOWZE1ag5uzCkh4hIC7qSmQOu797r5EJBFGhxBYivjj8HIX0iiiPof5yG",
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=2000"
        "&recvWindow=5000&timestamp=1611825601400",
        "4c633cd74726176f44d7a81ac9c86ffd6045169b3fadac568b577285ac95ca45",
    ),
]
_PEM = serialization.Encoding.PEM


@pytest.mark.parametrize(("secret", "payload", "expected"), VECTORS)
def test_hmac_when_binance_vector_then_matches(secret: str, payload: str, expected: str) -> None:
    # Act
    signer = load_signer("hmac", secret.encode())
    verifier = load_verifier("hmac", secret.encode())
    # Assert
    assert hmac_sha256_hex(secret.encode(), payload.encode()) == expected
    assert signer.sign(payload.encode()) == expected
    assert verifier.verify(payload.encode(), expected.upper())  # hex is case-insensitive
    assert not verifier.verify(payload.encode() + b"&x=1", expected)
    assert "Hmac" in repr(signer)
    assert secret not in repr(signer)


def _pair(kind: str) -> tuple[bytes, bytes]:
    key = (
        Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    )
    private = key.private_bytes(
        _PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(_PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_asymmetric_when_signed_then_verifies_and_base64(kind: str) -> None:
    # Arrange
    private, public = _pair(kind)
    signer = load_signer(kind, private)  # type: ignore[arg-type]
    verifier = load_verifier(kind, public)  # type: ignore[arg-type]
    # Act
    signature = signer.sign(b"symbol=BTCUSDT&timestamp=1")
    # Assert
    assert base64.b64decode(signature, validate=True)
    assert verifier.verify(b"symbol=BTCUSDT&timestamp=1", signature)
    assert not verifier.verify(b"symbol=BTCUSDT&timestamp=2", signature)
    assert not verifier.verify(b"symbol=BTCUSDT&timestamp=1", "not*base64")
    assert "BEGIN" not in repr(signer)


def test_load_when_pem_kind_mismatch_then_value_error() -> None:
    # Arrange
    private, public = _pair("ed25519")
    # Act / Assert
    with pytest.raises(ValueError, match="rsa"):
        load_signer("rsa", private)
    with pytest.raises(ValueError, match="rsa"):
        load_verifier("rsa", public)


NOW = 1_700_000_000_000
TIMING = [
    ("in window", str(NOW - 4_999), None, None),
    ("edge of default window", str(NOW - 5_000), None, None),
    ("past default window", str(NOW - 5_001), None, -1021),
    ("custom window", str(NOW - 59_000), "60000", None),
    ("window too large", str(NOW), "60001", -1131),
    ("window not a number", str(NOW), "abc", -1102),
    ("window zero", str(NOW), "0", -1102),
    ("999 ms ahead", str(NOW + 999), None, None),
    ("1000 ms ahead", str(NOW + 1_000), None, -1021),
    ("missing", None, None, -1102),
    ("empty", "", None, -1102),
    ("not a number", "12abc", None, -1102),
    ("infinite", "Infinity", None, -1102),
    ("decimal recvWindow", str(NOW - 5_500), "6000.5", None),
]


@pytest.mark.parametrize(
    ("case", "timestamp", "window", "code"), TIMING, ids=[t[0] for t in TIMING]
)
def test_check_timing_when_case_then_binance_rule(
    case: str, timestamp: str | None, window: str | None, code: int | None
) -> None:
    # Act
    error = check_timing(timestamp, window, NOW)
    # Assert
    assert (error.code if error else None) == code


def test_check_timing_when_unicode_digits_then_malformed_not_crash() -> None:
    error = check_timing("\u00b2\u00b3", None, NOW)
    assert error is not None
    assert error.code == -1102
