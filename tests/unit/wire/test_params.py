"""wire/params.py: parameters parsed exactly as Binance parses them (§2.1, §3.1)."""

from __future__ import annotations

from urllib.parse import quote
from urllib.parse import unquote_plus

from hypothesis import given
from hypothesis import strategies as st

from margin_gate.wire.errors import BinanceError
from margin_gate.wire.params import Params
from margin_gate.wire.params import encode_params
from margin_gate.wire.params import parse_params


def _ok(method: str, query: bytes, body: bytes) -> Params:
    result = parse_params(method, query, body)
    assert isinstance(result, Params), result
    return result


def test_parse_when_key_in_query_and_body_then_query_wins() -> None:
    # Act
    p = _ok("POST", b"symbol=BTCUSDT&quantity=1", b"quantity=5&price=30000.0&signature=ab")
    # Assert
    assert list(p.items_) == [("symbol", "BTCUSDT"), ("quantity", "1"), ("price", "30000.0")]
    assert p.signature == "ab"
    assert p.signed_payload == b"symbol=BTCUSDT&quantity=1quantity=5&price=30000.0"


def test_parse_when_get_then_body_ignored() -> None:
    p = _ok("GET", b"a=1", b"b=2")
    assert dict(p) == {"a": "1"}
    assert p.signed_payload == b"a=1"


def test_parse_when_numbers_as_sdks_send_them_then_kept_verbatim() -> None:
    p = _ok("DELETE", b"", b"quantity=1e-05&price=30000.0&stopPrice=1E%2B3")
    assert (p["quantity"], p["price"], p["stopPrice"]) == ("1e-05", "30000.0", "1E+3")


def test_parse_when_duplicate_within_part_then_1101() -> None:
    for query, body in [(b"a=1&a=2", b""), (b"", b"a=1&a=1"), (b"signature=x", b"signature=y")]:
        result = parse_params("POST", query, body)
        assert isinstance(result, BinanceError)
        assert result.code == -1101


def test_parse_when_non_ascii_then_1100() -> None:
    result = parse_params("POST", b"", "a=caf\u00e9".encode())
    assert isinstance(result, BinanceError)
    assert result.code == -1100


def test_parse_when_signature_in_middle_then_cut_from_payload() -> None:
    p = _ok("GET", b"a=1&signature=ff&b=2", b"")
    assert p.signed_payload == b"a=1&b=2"
    assert p.signature == "ff"
    first = _ok("GET", b"signature=ff&b=2", b"")
    assert first.signed_payload == b"b=2"


def test_parse_when_escapes_then_decoded_like_form_data() -> None:
    p = _ok("POST", b"", b"batchOrders=%5B%7B%22a%22%3A1%7D%5D&note=a+b")
    assert (p["batchOrders"], p["note"]) == ('[{"a":1}]', "a b")


_TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12
)


@given(st.dictionaries(_TEXT, _TEXT, min_size=1, max_size=6))
def test_encode_then_parse_when_any_ascii_then_round_trips(items: dict[str, str]) -> None:
    # Arrange: what the gateway sends upstream is what it parsed.
    pairs = [(k, v) for k, v in items.items() if k != "signature"]
    # Act
    encoded = encode_params(pairs)
    parsed = _ok("POST", b"", encoded)
    # Assert
    assert list(parsed.items_) == pairs
    assert (
        encoded
        == "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs).encode()
    )


@given(_TEXT)
def test_decode_fast_path_when_any_text_then_same_as_unquote_plus(text: str) -> None:
    ascii_text = text.encode("ascii", "ignore").decode() or "x"
    p = _ok("GET", f"k={ascii_text}".encode().replace(b"&", b"%26").replace(b"#", b"%23"), b"")
    assert p["k"] == unquote_plus(ascii_text.replace("&", "%26").replace("#", "%23"))


_NAME = st.sampled_from(["a", "b", "signature", "signaturex", "x", ""])
_CHUNK = st.one_of(
    st.just(""), _NAME, st.builds("{}={}".format, _NAME, st.sampled_from(["1", "", "=", "v=w"]))
)


@given(st.lists(_CHUNK, max_size=6))
def test_split_fast_path_when_no_escapes_then_same_as_the_loop(chunks: list[str]) -> None:
    # Arrange: parts without escapes take the fast path; the loop is the reference.
    from margin_gate.wire.params import _split
    from margin_gate.wire.params import _split_escaped

    text = "&".join(chunks)
    # Act
    fast = _split(text.encode())
    slow = _split_escaped(text) if text else ([], b"", None)
    # Assert
    if isinstance(slow, BinanceError):
        assert isinstance(fast, BinanceError)
        assert fast.msg == slow.msg
    else:
        assert fast == slow
