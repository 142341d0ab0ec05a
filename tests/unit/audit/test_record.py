"""Record schema helpers: redaction (no signature, no secrets) and timestamps."""

from __future__ import annotations

import pytest

from margin_gate.audit.record import FIELDS
from margin_gate.audit.record import REDACTED_KEYS
from margin_gate.audit.record import AuditRecord
from margin_gate.audit.record import iso_ms
from margin_gate.audit.record import redact
from margin_gate.wire.params import parse_params
from tests.unit.audit.builders import SECRET_SIGNATURE
from tests.unit.audit.builders import order_params


def test_redact_drops_signature_and_keeps_order_fields():
    clean = redact(order_params())
    assert "signature" not in clean
    assert clean["symbol"] == "BTCUSDT"
    assert clean["price"] == "60000.0"  # as sent, not normalized
    assert list(clean) == [k for k in order_params() if k != "signature"]


@pytest.mark.parametrize(
    "key",
    ["signature", "SIGNATURE", "Signature", "apiKey", "X-MBX-APIKEY", "secretKey", "listenKey"],
)
def test_redact_drops_denylisted_keys_in_any_case(key):
    assert redact({"symbol": "ETHUSDT", key: "s3cr3t"}) == {"symbol": "ETHUSDT"}


def test_every_denylisted_key_is_dropped():
    params = {key: "s3cr3t" for key in REDACTED_KEYS} | {"side": "SELL"}
    assert redact(params) == {"side": "SELL"}


def test_redact_takes_pairs_and_the_wire_params_mapping():
    pairs = [("symbol", "BTCUSDT"), ("signature", SECRET_SIGNATURE)]
    assert redact(pairs) == {"symbol": "BTCUSDT"}
    body = f"symbol=BTCUSDT&side=BUY&signature={SECRET_SIGNATURE}".encode()
    parsed = parse_params("POST", b"", body)
    assert not isinstance(parsed, Exception)
    assert redact(parsed) == {"symbol": "BTCUSDT", "side": "BUY"}


def test_iso_ms_is_utc_with_milliseconds():
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert iso_ms(1_700_000_000_999) == "2023-11-14T22:13:20.999Z"
    assert iso_ms(1_700_000_001_000) == "2023-11-14T22:13:21.000Z"


def test_fields_list_the_schema_in_order():
    assert FIELDS[:3] == ("ts", "ts_ms", "kind")
    assert FIELDS[-4:] == ("writer", "seq", "prev", "hash")
    assert set(FIELDS) == set(AuditRecord.__annotations__)
