"""secrets_from_settings: every piece of key material in Settings, nothing else."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from margin_gate.ops.redact import Redactor
from margin_gate.ops.redact import secrets_from_settings
from margin_gate.settings import parse_settings

EXCH_KEY = "EXCHkey0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789ab"
EXCH_SECRET = "EXCHsecret0123456789abcdefABCDEF0123456789abcdefABCDEF012345678"
BOT_KEY = "BOTkey0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcd"
BOT_SECRET = "BOTsecret0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789"
ED_PRIVATE = Ed25519PrivateKey.generate()
ED_PEM = ED_PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
ED_PUBLIC = (
    ED_PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _settings() -> object:
    data = {
        "accounts": {
            "main": {"api_key": {"env": "K"}, "api_secret": {"env": "S"}},
            "ed": {
                "key_kind": "ed25519",
                "api_key": "EDaccountKEY0123456789",
                "api_secret": {"env": "P"},
            },
        },
        "bots": {
            "b1": {"api_key": {"env": "BK"}, "secret": {"env": "BS"}},
            "b2": {
                "api_key": "bot2KEYinline0123456789",
                "key_kind": "ed25519",
                "public_key": {"env": "PUB"},
            },
        },
        # a URL with a password comes from the environment (an inline one is refused)
        "state": {"backend": "redis", "redis_url": {"env": "REDIS_URL"}},
    }
    env = {
        "K": EXCH_KEY,
        "S": EXCH_SECRET,
        "BK": BOT_KEY,
        "BS": BOT_SECRET,
        "P": ED_PEM,
        "PUB": ED_PUBLIC,
        "REDIS_URL": "redis://:redisPassw0rd99@redis:6379/0",
    }
    return parse_settings(data, base_dir=Path("."), env=env)


def test_collects_keys_secrets_pem_bodies_and_url_passwords() -> None:
    found = secrets_from_settings(_settings())

    for expected in (EXCH_KEY, EXCH_SECRET, BOT_KEY, BOT_SECRET, "EDaccountKEY0123456789",
                     "bot2KEYinline0123456789", "redisPassw0rd99"):  # fmt: skip
        assert expected in found, expected
    pem_body = [line for line in ED_PEM.splitlines() if not line.startswith("-----")]
    assert all(line in found for line in pem_body)


def test_masks_a_fragment_of_a_private_key_pem() -> None:
    redactor = Redactor(secrets_from_settings(_settings()))
    body_line = ED_PEM.splitlines()[1]

    assert body_line not in redactor.mask(f"oops: {body_line}")
    assert EXCH_SECRET not in redactor.mask(f"sig={EXCH_SECRET}&x=1")
