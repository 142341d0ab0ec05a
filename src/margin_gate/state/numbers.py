"""Exact number parsing for exchange JSON: strings (and the odd JSON number) to Decimal.

Binance sends most numbers as JSON strings; a few fields (bracket ratios, caps) are JSON
numbers, which orjson gives as int/float. A float goes through its shortest repr, which is
exact for the decimal literals Binance prints (0.0065 → "0.0065").
"""

from __future__ import annotations

from decimal import Decimal
from decimal import InvalidOperation

__all__ = ["CodecError", "dec", "dec_or_none", "int_or_zero"]

BAD_NUMBER = "{where}: not a finite number: {value!r}"


class CodecError(ValueError):
    """Exchange JSON we cannot read; the message names the field."""


def dec(value: object, where: str) -> Decimal:
    """A finite Decimal from a JSON string, int or float; CodecError otherwise."""
    if isinstance(value, bool):
        raise CodecError(BAD_NUMBER.format(where=where, value=value))
    if isinstance(value, str | int):
        text = value
    elif isinstance(value, float):
        text = repr(value)
    else:
        raise CodecError(BAD_NUMBER.format(where=where, value=value))
    try:
        result = Decimal(text)
    except (InvalidOperation, ValueError):
        raise CodecError(BAD_NUMBER.format(where=where, value=value)) from None
    if not result.is_finite():
        raise CodecError(BAD_NUMBER.format(where=where, value=value))
    return result


def dec_or_none(value: object, where: str) -> Decimal | None:
    """None for a missing/empty value, else `dec`."""
    if value is None or value == "":
        return None
    return dec(value, where)


def int_or_zero(value: object) -> int:
    """Millisecond times and ids: int, numeric string, or 0 when absent."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float):
        return int(value)
    return 0
