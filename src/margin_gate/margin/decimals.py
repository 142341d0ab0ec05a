"""The engine's Decimal arithmetic: one fixed context, shared constants, exact parsing.

Every public entry point of `margin_gate.margin` runs under `ENGINE_CONTEXT`, so a result never
depends on the caller's thread-local decimal context. Precision 34 is IEEE decimal128: sums of
prices and quantities with 8 decimals stay exact; only divisions (inverse PnL, average entry,
`quoteOrderQty / price`, uniMMR itself) round, at the 34th significant digit. `InvalidOperation`
and `DivisionByZero` trap, so a NaN can never leak into a decision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN
from decimal import Context
from decimal import Decimal
from decimal import DivisionByZero
from decimal import InvalidOperation
from decimal import Overflow
from decimal import localcontext
from typing import ParamSpec
from typing import TypeVar

__all__ = ["ENGINE_CONTEXT", "INFINITY", "ONE", "ZERO", "engine_context"]

ENGINE_CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
ZERO = Decimal(0)
ONE = Decimal(1)
INFINITY = Decimal("Infinity")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def engine_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `fn` under `ENGINE_CONTEXT` (restored afterwards; nesting is harmless)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(ENGINE_CONTEXT):
            return fn(*args, **kwargs)

    return wrapper
