"""Decimal parsing and Binance-style number formatting for the paper exchange.

Binance prints money as strings: balances and account figures with 8 decimals, order prices and
quantities at the symbol's precision, bracket tables as bare JSON numbers. Inputs arrive as
strings too, in whatever form the client library chose (`0.001`, `1e-05`, `30000.0`).
"""

from __future__ import annotations

from decimal import ROUND_CEILING
from decimal import ROUND_FLOOR
from decimal import ROUND_HALF_UP
from decimal import Context
from decimal import Decimal
from decimal import InvalidOperation
from functools import lru_cache

import orjson

__all__ = [
    "ONE",
    "ZERO",
    "ceil_to",
    "floor_to",
    "fmt",
    "fmt8",
    "fmt_step",
    "json_number",
    "num8",
    "parse_decimal",
    "places_of",
    "plain",
]

ZERO = Decimal(0)
ONE = Decimal(1)
# Wide enough that quantizing a large balance to 8 places never overflows the precision.
_CTX = Context(prec=60)
_QUANTS = {n: Decimal(1).scaleb(-n) for n in range(19)}


def parse_decimal(text: str | None) -> Decimal | None:
    """A finite decimal from a parameter value, or None when absent or malformed."""
    if text is None or text == "" or text.strip() != text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def fmt(value: Decimal, places: int) -> str:
    """Fixed-point text with exactly `places` decimals (half-up), never `-0`."""
    text = f"{value.quantize(_QUANTS[places], rounding=ROUND_HALF_UP, context=_CTX):f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def fmt8(value: Decimal) -> str:
    return fmt(value, 8)


def plain(value: Decimal) -> str:
    """Shortest fixed-point text (`50000`, `0.0065`), never an exponent, never `-0`."""
    if value == 0:
        return "0"
    text = f"{value.normalize(_CTX):f}"
    return text


def num8(value: Decimal) -> str:
    """At most 8 decimals, trailing zeros dropped (entry and average prices)."""
    return plain(value.quantize(_QUANTS[8], rounding=ROUND_HALF_UP, context=_CTX))


@lru_cache(maxsize=256)
def places_of(step: Decimal) -> int:
    """Decimal places a tick or step size allows: 0.001 -> 3, 1 -> 0."""
    if step <= 0:
        return 8
    exponent = step.normalize(_CTX).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def fmt_step(value: Decimal, step: Decimal) -> str:
    """Text at the precision a tick or step size implies (order prices and quantities)."""
    return fmt(value, places_of(step))


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR, context=_CTX) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_CEILING, context=_CTX) * step


def json_number(value: Decimal) -> orjson.Fragment:
    """A bare JSON number with the decimal's exact digits (bracket tables print numbers)."""
    return orjson.Fragment(plain(value).encode("ascii"))
