"""Futures maintenance margin from leverage brackets (binance-pm.md §1.4, §1.5).

UM: `MM = |amount| × mark × mmr − cum` in the margin asset, bracket chosen by USD notional.
CM: `MM = |contracts| × contract_size / mark × mmr − cum` in the coin, bracket chosen by coin
quantity. Brackets are "tax-bracket" tables: with `cum_n = cum_{n−1} + floor_n × (mmr_n −
mmr_{n−1})` MM is continuous, so the UNCONFIRMED boundary rule only matters for tables that
break that identity (setting `bracket_boundary`).
"""

from __future__ import annotations

from bisect import bisect_left
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from margin_gate.margin.decimals import ZERO
from margin_gate.margin.model import Bracket
from margin_gate.margin.settings import BracketBoundary

__all__ = ["BracketTable", "cm_notional", "maint_margin", "um_notional"]

NO_BRACKETS = "bracket table for {symbol} is empty"


@dataclass(frozen=True, slots=True)
class BracketTable:
    """A symbol's brackets sorted by floor, with the floors kept for bisection."""

    brackets: tuple[Bracket, ...]
    floors: tuple[Decimal, ...]

    @classmethod
    def of(cls, symbol: str, brackets: Iterable[Bracket]) -> BracketTable:
        ordered = tuple(sorted(brackets, key=lambda b: b.floor))
        if not ordered:
            raise ValueError(NO_BRACKETS.format(symbol=symbol))
        return cls(ordered, tuple(b.floor for b in ordered))

    def find(self, notional: Decimal, boundary: BracketBoundary) -> Bracket:
        """The bracket containing `notional` (≥ 0); past the last cap, the last bracket.

        boundary "floor": floor ≤ n < cap; "cap": floor < n ≤ cap (§1.5, UNCONFIRMED).
        """
        if boundary == "floor":
            i = bisect_right(self.floors, notional) - 1
        else:
            i = bisect_left(self.floors, notional) - 1
        return self.brackets[max(i, 0)]


def maint_margin(notional: Decimal, table: BracketTable, boundary: BracketBoundary) -> Decimal:
    """`notional × mmr − cum` of the bracket containing `notional`; 0 for a zero notional.

    Units are the table's: USD (margin asset) for UM, coin for CM. Source: §1.4 UM and CM rows.
    """
    if notional == ZERO:
        return ZERO
    b = table.find(notional, boundary)
    return notional * b.maint_margin_ratio - b.cum


def um_notional(amount: Decimal, mark: Decimal) -> Decimal:
    """UM position notional `|amount × mark|` in the margin asset (§1.4)."""
    return abs(amount) * mark


def cm_notional(contracts: Decimal, contract_size: Decimal, mark: Decimal) -> Decimal:
    """CM position notional in coin `|contracts| × contract_size / mark` (§1.4, DERIVED)."""
    if contracts == ZERO:
        return ZERO
    return abs(contracts) * contract_size / mark
