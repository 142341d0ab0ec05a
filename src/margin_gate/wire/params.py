"""Request parameters parsed exactly as Binance parses them (binance-pm.md §2.1, §3.1).

- Parameters come from the query string and, on POST, PUT and DELETE, from a form body,
  whatever the Content-Type says (python-binance sends DELETE params in a body;
  binance-connector labels an empty POST `application/json`; the official SDK sends none).
- A key in both parts: the query-string value wins, as Binance documents.
- A key repeated within one part is refused (-1101) rather than guessed at, so the gateway can
  never check one value while the exchange executes another.
- The signed payload is the raw query string concatenated with the raw body (no `&`), minus the
  `signature` parameter itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from typing import overload
from urllib.parse import quote
from urllib.parse import unquote_plus

from margin_gate.wire.errors import DUPLICATE_PARAM
from margin_gate.wire.errors import ILLEGAL_CHARS
from margin_gate.wire.errors import BinanceError

__all__ = ["BODY_METHODS", "Params", "encode_params", "parse_params"]

_T = TypeVar("_T")
BODY_METHODS = frozenset({"POST", "PUT", "DELETE"})
_SIGNATURE = "signature"
# Characters left as-is when we encode parameters we send upstream. Binance signs the exact
# bytes, so any consistent encoding works; this one keeps JSON lists (batchOrders) readable.
_SAFE = "-_.~"
_NEEDS_QUOTING = re.compile(r"[^A-Za-z0-9_.~\-]")


def _decode(text: str) -> str:
    # Fast path: most keys and values carry no escapes (unquote_plus costs ~0.5 µs each).
    return unquote_plus(text) if "%" in text or "+" in text else text


def _encode(text: str) -> str:
    return quote(text, safe=_SAFE) if _NEEDS_QUOTING.search(text) else text


@dataclass(frozen=True, slots=True)
class Params(Mapping[str, str]):
    """Merged parameters in first-seen order, plus what signature verification needs."""

    items_: tuple[tuple[str, str], ...]
    signature: str | None
    signed_payload: bytes  # raw query + raw body, without the signature parameter

    def __getitem__(self, key: str) -> str:
        for k, v in self.items_:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.items_)

    def __len__(self) -> int:
        return len(self.items_)

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, default: str | _T, /) -> str | _T: ...

    def get(self, key: str, default: object = None, /) -> object:
        # Mapping.get goes through __getitem__ and a KeyError for an absent key (≈1 µs).
        for k, v in self.items_:
            if k == key:
                return v
        return default

    def without(self, *keys: str) -> list[tuple[str, str]]:
        drop = set(keys)
        return [(k, v) for k, v in self.items_ if k not in drop]


def _split(raw: bytes) -> tuple[list[tuple[str, str]], bytes, str | None] | BinanceError:
    """Decode one part. Returns (pairs, the raw part minus the signature, signature).

    The signature chunk is cut out of the raw bytes (with one adjoining `&`) so the rest stays
    byte-for-byte what the client signed: ordering, `1e-05`, `30000.0` and all.
    """
    if not raw:
        return [], b"", None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        # Binance requires non-ASCII to be percent-encoded before signing (§3.1).
        return ILLEGAL_CHARS
    if "%" in text or "+" in text:
        return _split_escaped(text)
    # The usual part, without escapes: names and values are the raw text (the loop's result
    # in fewer steps; the signature, if any, last, as every SDK sends it).
    chunks = text.split("&")
    pairs: list[tuple[str, str]] = [chunk.partition("=")[::2] for chunk in chunks if chunk]
    if len(dict(pairs)) != len(pairs):
        return _split_escaped(text)  # a duplicate: the loop names the first one
    last = chunks[-1]
    if pairs and pairs[-1][0] == _SIGNATURE and last:
        del pairs[-1]
        cut = len(text) - len(last)  # where the signature chunk starts
        unsigned = raw[: cut - 1] if cut > 0 else b""
        return pairs, unsigned, last.partition("=")[2]
    if _SIGNATURE in text and any(name == _SIGNATURE for name, _ in pairs):
        return _split_escaped(text)  # a signature elsewhere: cut where it is
    return pairs, raw, None


def _split_escaped(text: str) -> tuple[list[tuple[str, str]], bytes, str | None] | BinanceError:
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    signature: str | None = None
    unsigned = text
    pos = 0
    for chunk in text.split("&"):
        start, pos = pos, pos + len(chunk) + 1
        if not chunk:
            continue
        name, _, value = chunk.partition("=")
        key = _decode(name)
        if key in seen:
            return DUPLICATE_PARAM.with_msg(f"Duplicate values for a parameter detected: '{key}'.")
        seen.add(key)
        if key == _SIGNATURE:
            signature = _decode(value)
            end = start + len(chunk)
            # Cut the chunk and one adjoining "&" out of the raw text.
            unsigned = text[: start - 1] + text[end:] if start > 0 else text[end + 1 :]
            continue
        pairs.append((key, _decode(value)))
    return pairs, unsigned.encode("ascii"), signature


def parse_params(method: str, raw_query: bytes, raw_body: bytes) -> Params | BinanceError:
    """Parse a request's parameters; the body counts only on POST, PUT and DELETE."""
    query = _split(raw_query)
    if isinstance(query, BinanceError):
        return query
    body_raw = raw_body if method.upper() in BODY_METHODS else b""
    body = _split(body_raw)
    if isinstance(body, BinanceError):
        return body
    q_pairs, q_unsigned, q_sig = query
    b_pairs, b_unsigned, b_sig = body
    if q_sig is not None and b_sig is not None:
        return DUPLICATE_PARAM.with_msg("Duplicate values for a parameter detected: 'signature'.")
    if not q_pairs or not b_pairs:  # one part only (the usual request): nothing to merge
        items = tuple(q_pairs or b_pairs)
    else:
        in_query = {k for k, _ in q_pairs}
        # The query string wins (binance-pm.md §2.1): a body value for a query key is dropped.
        items = tuple(q_pairs) + tuple((k, v) for k, v in b_pairs if k not in in_query)
    return Params(items, q_sig if q_sig is not None else b_sig, q_unsigned + b_unsigned)


def encode_params(items: list[tuple[str, str]]) -> bytes:
    """Form-encode parameters for sending upstream (the bytes we sign are the bytes we send)."""
    return "&".join([f"{_encode(k)}={_encode(v)}" for k, v in items]).encode("ascii")
