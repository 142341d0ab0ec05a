"""Order-entry and account error answers the paper exchange gives, in Binance's format.

Codes and texts from binance-pm.md §3.6 (and the fapi/spot catalogues where PAPI shares them).
Generic auth/timing errors come from `margin_gate.wire.errors`; these are the trading ones.
"""

from __future__ import annotations

from decimal import Decimal

from margin_gate.wire.errors import BinanceError

__all__ = [
    "BAD_ORDER_TYPE",
    "BAD_SIDE",
    "BAD_TIF",
    "DUPLICATE_CLIENT_ID",
    "FOK_REJECT",
    "GTX_REJECT",
    "IMMEDIATE_TRIGGER",
    "INSUFFICIENT_BALANCE",
    "MARGIN_BORROW_REFUSED",
    "MARGIN_REDUCE_ONLY",
    "NO_SUCH_ORDER",
    "POSITION_SIDE_CHANGE",
    "POSITION_SIDE_MISMATCH",
    "REDUCE_ONLY_NOT_REQUIRED",
    "REDUCE_ONLY_REJECT",
    "REPAY_TOO_MUCH",
    "STOP_ORDER_SWITCH_ALGO",
    "UNABLE_TRADE_LOW_LIQUIDATION",
    "UNKNOWN_ORDER",
    "filter_failure",
    "min_notional",
    "missing",
    "not_found",
    "reduce_only_mode",
]

UNABLE_TRADE_LOW_LIQUIDATION = BinanceError(
    -3048,
    "Unable to trade. Your margin account is currently in liquidation. "
    "Please try again once the liquidation is processed.",
    400,
)
INSUFFICIENT_BALANCE = BinanceError(-2010, "Account has insufficient balance for requested action.")
MARGIN_REDUCE_ONLY = BinanceError(
    -2010,
    "New borrowing is refused: the Portfolio Margin account is restricted to reducing risk.",
)
MARGIN_BORROW_REFUSED = BinanceError(-3006, "Your borrow amount has exceed maximum borrow amount.")
REPAY_TOO_MUCH = BinanceError(-3015, "Repay amount exceeds borrow amount.")
UNKNOWN_ORDER = BinanceError(-2011, "Unknown order sent.")
NO_SUCH_ORDER = BinanceError(-2013, "Order does not exist.")
REDUCE_ONLY_REJECT = BinanceError(-2022, "ReduceOnly Order is rejected.")
BAD_TIF = BinanceError(-1115, "Invalid timeInForce.")
BAD_ORDER_TYPE = BinanceError(-1116, "Invalid orderType.")
BAD_SIDE = BinanceError(-1117, "Invalid side.")
REDUCE_ONLY_NOT_REQUIRED = BinanceError(-1106, "Parameter 'reduceOnly' sent when not required.")
POSITION_SIDE_MISMATCH = BinanceError(-4061, "Order's position side does not match user's setting.")
POSITION_SIDE_CHANGE = BinanceError(
    -4068, "Position side cannot be changed if there exists position."
)
DUPLICATE_CLIENT_ID = BinanceError(-4116, "ClientOrderId is duplicated.")
STOP_ORDER_SWITCH_ALGO = BinanceError(
    -4120,
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
)
IMMEDIATE_TRIGGER = BinanceError(-2021, "Order would immediately trigger.")
GTX_REJECT = BinanceError(
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history",
)
FOK_REJECT = BinanceError(
    -5021,
    "Due to the order could not be filled immediately, the FOK order has been rejected. "
    "The order will not be recorded in the order history",
)


def missing(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_found(method: str, path: str) -> BinanceError:
    return BinanceError(-5000, f"Path {path}, Method {method} is invalid", 404)


def filter_failure(name: str) -> BinanceError:
    """Spot/margin filter failures all share -1013 (binance-spot-api-docs errors.md)."""
    return BinanceError(-1013, f"Filter failure: {name}")


def min_notional(notional: Decimal) -> BinanceError:
    return BinanceError(
        -4164,
        f"Order's notional must be no smaller than {notional} (unless you choose reduce only).",
    )


def reduce_only_mode(code: int, threshold: Decimal) -> BinanceError:
    """-4405 (UM) / -4415 (CM): only reduce-only orders while uniMMR <= the reduce-only level."""
    return BinanceError(
        code,
        f"Only reduce-only orders are allowed: the Portfolio Margin account's uniMMR is at or "
        f"below {threshold}.",
    )
