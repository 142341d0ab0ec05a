"""Readers for Binance request parameters: exact numbers, flags, enums, names, JSON lists.

Each returns the value or the `BinanceError` Binance would answer (binance-pm.md §3.6):
-1102 missing or malformed (including zero, negative and absurdly large numbers), -1100
illegal characters, -1111 precision beyond the symbol's tick/step or 20 decimals, -1121
unknown symbol, -1116 / -1117 invalid order type / side. Numbers keep their exact text:
"1e-05" is Decimal("0.00001"); NaN and Infinity never parse (letters are illegal).
"""

from __future__ import annotations

import json  # noqa: TID251 - parse_float=str keeps batchOrders numbers exact; orjson has no such hook
import re
from collections.abc import Mapping
from decimal import Context
from decimal import Decimal
from decimal import InvalidOperation
from typing import cast

from margin_gate.margin.decimals import ZERO
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Market
from margin_gate.margin.model import Side
from margin_gate.margin.model import SymbolKey
from margin_gate.wire.errors import BAD_PRECISION
from margin_gate.wire.errors import BAD_SYMBOL
from margin_gate.wire.errors import ILLEGAL_CHARS
from margin_gate.wire.errors import MANDATORY_PARAM
from margin_gate.wire.errors import BinanceError

__all__ = [
    "BAD_ORDER_TYPE",
    "BAD_SIDE",
    "MAX_BATCH",
    "Instruments",
    "Params",
    "choice",
    "first",
    "flag",
    "identifier",
    "illegal",
    "instrument",
    "json_list",
    "malformed",
    "missing",
    "number",
    "order_type",
    "required",
    "side",
]

BAD_SIDE = BinanceError(-1117, "Invalid side.")
BAD_ORDER_TYPE = BinanceError(-1116, "Invalid orderType.")
MAX_BATCH = 5
_NUMBER = re.compile(r"[0-9.eE+-]+")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_NUMBER_RANGE = r"'^([0-9]{1,20})(\.[0-9]{1,20})?$'"
_NAME_RANGE = r"'^[A-Z0-9-_.]{1,20}$'"
_WIDE = Context(prec=100, traps=[InvalidOperation])  # exact remainders for step checks

Params = Mapping[str, str]
Instruments = Mapping[SymbolKey, Instrument]


def missing(name: str) -> BinanceError:
    """-1102 for a mandatory parameter that is absent or empty."""
    return MANDATORY_PARAM.with_msg(
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def malformed(name: str, why: str) -> BinanceError:
    """-1102 for a parameter that is present but unusable (`why` says how)."""
    return MANDATORY_PARAM.with_msg(f"Parameter '{name}' was malformed: {why}.")


def illegal(name: str, legal: str = _NUMBER_RANGE) -> BinanceError:
    """-1100 for characters outside the parameter's legal range."""
    return ILLEGAL_CHARS.with_msg(
        f"Illegal characters found in parameter '{name}'; legal range is {legal}."
    )


def number(params: Params, name: str, step: Decimal = ZERO) -> Decimal | None | BinanceError:
    """A positive Decimal from its exact text, or None when absent/empty."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _NUMBER.fullmatch(raw):
        return illegal(name)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return malformed(name, "not a number")
    if value <= ZERO:
        return malformed(name, "must be greater than zero")
    if value.adjusted() >= 20:
        return malformed(name, "too large")
    if "e" in raw or "E" in raw or len(raw) - raw.find(".") > 21:
        exponent = _WIDE.normalize(value).as_tuple().exponent
        assert isinstance(exponent, int)  # finite: only digits, '.', 'e' and signs got here
    else:  # plain notation: at most 20 decimals, so normalized at least 10^-20
        exponent = 0
    if exponent < -20 or (step > ZERO and _WIDE.remainder(value, step) != ZERO):
        return BAD_PRECISION.with_msg(
            f"Precision is over the maximum defined for this asset: '{name}'={raw}"
            + (f" is not a multiple of {step}." if step > ZERO else ".")
        )
    return value


def required(params: Params, name: str, step: Decimal = ZERO) -> Decimal | BinanceError:
    """`number`, with -1102 when absent."""
    value = number(params, name, step)
    return missing(name) if value is None else value


def first(params: Params, names: tuple[str, ...], step: Decimal) -> Decimal | None | BinanceError:
    """The first of `names` that is present (Binance renamed some parameters)."""
    for name in names:
        if params.get(name):
            return number(params, name, step)
    return None


def flag(params: Params, name: str) -> bool | BinanceError:
    """ "true"/"false" in any case; absent is False."""
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        return malformed(name, "must be true or false")
    return lowered == "true"


def choice(params: Params, name: str, allowed: tuple[str, ...], default: str) -> str | BinanceError:
    """One of `allowed`, or `default` when absent."""
    raw = params.get(name) or default
    if raw not in allowed:
        return malformed(name, "must be one of " + ", ".join(allowed))
    return raw


def identifier(params: Params, name: str) -> str | BinanceError:
    """A symbol or asset name, upper-cased; -1100 for illegal characters."""
    raw = params.get(name)
    if raw is None or raw == "":
        return missing(name)
    if not _NAME.fullmatch(raw):
        return illegal(name, _NAME_RANGE)
    return raw.upper()


def instrument(
    params: Params, market: Market, instruments: Instruments
) -> Instrument | BinanceError:
    """The instrument named by `symbol` on `market` (-1121 when unknown)."""
    symbol = identifier(params, "symbol")
    if isinstance(symbol, BinanceError):
        return symbol
    found = instruments.get((market, symbol))
    return BAD_SYMBOL if found is None else found


def side(params: Params) -> Side | BinanceError:
    """BUY or SELL (-1117 otherwise)."""
    raw = params.get("side")
    if raw is None or raw == "":
        return missing("side")
    return cast(Side, raw) if raw in ("BUY", "SELL") else BAD_SIDE


def order_type(params: Params, name: str, allowed: frozenset[str]) -> str | BinanceError:
    """An order type from `allowed` (-1116 otherwise), read from parameter `name`."""
    raw = params.get(name)
    if raw is None or raw == "":
        return missing(name)
    return raw if raw in allowed else BAD_ORDER_TYPE


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def json_list(raw: str | None) -> list[dict[str, str]] | BinanceError:
    """batchOrders: a JSON list of 1–5 objects; numbers keep their literal text, booleans
    become "true"/"false"; NaN/Infinity literals are refused."""
    if raw is None or raw == "":
        return missing("batchOrders")
    try:
        data = json.loads(raw, parse_float=str, parse_int=str, parse_constant=_reject_constant)
    except ValueError:
        return malformed("batchOrders", "not valid JSON")
    if not isinstance(data, list) or not 0 < len(data) <= MAX_BATCH:
        return malformed("batchOrders", f"must be a list of 1 to {MAX_BATCH} orders")
    out = []
    for element in data:
        if not isinstance(element, dict):
            return malformed("batchOrders", "each order must be an object")
        fields: dict[str, str] = {}
        for k, v in element.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            if not isinstance(v, str):
                return malformed("batchOrders", f"'{k}' must be a string or number")
            fields[k] = v
        out.append(fields)
    return out
