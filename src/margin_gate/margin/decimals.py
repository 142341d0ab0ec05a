"""The engine's Decimal arithmetic: one fixed context, shared constants, exact parsing.

Every public entry point of `margin_gate.margin` runs under `ENGINE_CONTEXT`, so a result never
depends on the caller's decimal context. Precision 34 is IEEE decimal128: sums of prices and
quantities with 8 decimals stay exact; only divisions (inverse PnL, average entry,
`quoteOrderQty / price`, uniMMR itself) round, at the 34th significant digit. `InvalidOperation`
and `DivisionByZero` trap, so a NaN can never leak into a decision.

`EXACT` is for running sums (pending-order groups, per-asset pending deltas, USD totals): its
precision is unbounded, so additions, subtractions and multiplications never round and a sum
does not depend on the order of its terms, nor does adding then removing a term leave residue.
Its sums are rounded to decimal128 once, where they are used (`ENGINE_CONTEXT.plus`). Never
divide under `EXACT`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import MAX_PREC
from decimal import ROUND_HALF_EVEN
from decimal import Context
from decimal import Decimal
from decimal import DivisionByZero
from decimal import InvalidOperation
from decimal import Overflow
from decimal import getcontext
from decimal import setcontext
from typing import ParamSpec
from typing import TypeVar

__all__ = ["ENGINE_CONTEXT", "EXACT", "INFINITY", "ONE", "ZERO", "engine_context"]

ENGINE_CONTEXT = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
EXACT = Context(
    prec=MAX_PREC,
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
    """Run `fn` under `ENGINE_CONTEXT` (restored afterwards; nesting costs one identity check).

    The context object itself is installed (no copy: `localcontext` copies, which costs about
    a microsecond per call). Only its status flags change under the engine's arithmetic, and
    nothing reads them.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        old = getcontext()
        if old is ENGINE_CONTEXT:
            return fn(*args, **kwargs)
        setcontext(ENGINE_CONTEXT)
        try:
            return fn(*args, **kwargs)
        finally:
            setcontext(old)

    return wrapper
