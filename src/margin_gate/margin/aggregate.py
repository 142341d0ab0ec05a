"""The mutable pieces of `AccountRisk`: per-symbol and per-asset state, and USD totals.

Each asset keeps its inputs in asset units — balance-part equity, Σ futures uPnL, UM / CM /
loan MM, and the summed deltas of its pending-order groups — plus its USD terms (E·P,
haircut, UM·P, CM·P, loan·P, binance-pm.md §1.1) with and without pending orders. Totals are
patched `total − old term + new term`, so a change costs O(1) whatever the account size.
The running sums (Σ uPnL, futures MM, pending deltas, totals) are exact (`EXACT`) and rounded
where read, so a change followed by its reversal leaves them exactly as they were and the
result never depends on the order of updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from margin_gate.margin.brackets import BracketTable
from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.decimals import EXACT
from margin_gate.margin.decimals import ZERO
from margin_gate.margin.model import Balance
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Position
from margin_gate.margin.model import PositionSide
from margin_gate.margin.unimmr import ZERO_TERMS
from margin_gate.margin.unimmr import Terms
from margin_gate.margin.unimmr import loan_maint_margin
from margin_gate.margin.unimmr import wallet_equity

__all__ = ["AssetState", "SymbolState", "Totals"]

_add = EXACT.add
_sub = EXACT.subtract


class SymbolState:
    """A futures symbol's positions, mark, uPnL and MM (margin asset units)."""

    __slots__ = ("instrument", "mark", "mm", "pnl", "positions", "table")

    def __init__(self, instrument: Instrument, table: BracketTable, mark: Decimal) -> None:
        self.instrument = instrument
        self.table = table
        self.mark = mark
        self.positions: dict[PositionSide, Position] = {}
        self.pnl = ZERO
        self.mm = ZERO


class AssetState:
    """One asset's inputs (asset units) and its USD terms with and without pending orders."""

    __slots__ = (
        "balance",
        "cm_mm",
        "inputs_p",
        "loan_mm",
        "n_pending",
        "n_symbols",
        "name",
        "pending",
        "pnl",
        "rate",
        "terms",
        "terms_p",
        "um_mm",
        "wallet",
    )

    def __init__(self, name: str, rate: CollateralRate) -> None:
        self.name = name
        self.rate = rate
        self.balance = Balance(name)
        self.wallet = ZERO  # wallet_equity(balance)
        self.loan_mm = ZERO
        self.pnl = ZERO  # Σ uPnL of futures symbols margined in this asset
        self.um_mm = ZERO
        self.cm_mm = ZERO
        self.n_symbols = 0  # futures symbols with a position margined here
        self.pending: list[Decimal] = [ZERO, ZERO, ZERO, ZERO]  # Σ pending group deltas
        self.n_pending = 0  # pending group effects with a delta on this asset
        self.terms: Terms = ZERO_TERMS
        self.terms_p: Terms = ZERO_TERMS
        self.inputs_p: list[Decimal] = [ZERO, ZERO, ZERO, ZERO]  # inputs(True) at terms_p

    def set_balance(self, balance: Balance, loan_rate: Decimal, with_interest: bool) -> None:
        """Take a new balance: its equity part and its loan MM."""
        self.balance = balance
        self.wallet = wallet_equity(balance)
        self.loan_mm = loan_maint_margin(balance, loan_rate, with_interest)

    def add_futures(self, market: str, d_pnl: Decimal, d_mm: Decimal) -> None:
        """Patch Σ uPnL and the UM or CM MM by one symbol's change, exactly (`EXACT`: a
        change and its reversal leave no residue)."""
        self.pnl = _add(self.pnl, d_pnl)
        if market == "UM":
            self.um_mm = _add(self.um_mm, d_mm)
        else:
            self.cm_mm = _add(self.cm_mm, d_mm)

    def count_symbol(self, step: int) -> None:
        """A symbol gained (+1) or lost (−1) its last position; at zero symbols the sums
        snap to an exact zero, so rounding residue never outlives the positions."""
        self.n_symbols += step
        if self.n_symbols == 0:
            self.pnl = self.um_mm = self.cm_mm = ZERO

    def add_pending(self, delta: Sequence[Decimal], sign: int) -> None:
        """Add (sign 1) or remove (−1) one pending group's delta (4 values), exactly (`EXACT`:
        the sum does not depend on the order of changes); exact zero at none left."""
        p = self.pending
        op = _add if sign > 0 else _sub
        p[0], p[1], p[2], p[3] = (
            op(p[0], delta[0]),
            op(p[1], delta[1]),
            op(p[2], delta[2]),
            op(p[3], delta[3]),
        )
        self.n_pending += sign
        if self.n_pending == 0:
            self.pending = [ZERO, ZERO, ZERO, ZERO]

    def inputs(self, with_pending: bool) -> list[Decimal]:
        """(E, umMM, cmMM, loanMM) in asset units, optionally + the pending deltas (the exact
        sums rounded to decimal128)."""
        plus = ENGINE_CONTEXT.plus
        if with_pending:
            p = self.pending
            return [
                self.wallet + self.pnl + p[0],
                plus(self.um_mm) + p[1],
                plus(self.cm_mm) + p[2],
                self.loan_mm + p[3],
            ]
        return [self.wallet + self.pnl, plus(self.um_mm), plus(self.cm_mm), self.loan_mm]


class Totals:
    """Σ of the assets' USD terms: (equity, adjusted equity, UM MM, CM MM, loan MM), kept
    exactly (`EXACT`); readers round (`ENGINE_CONTEXT`)."""

    __slots__ = ("_mm_assets", "values")

    def __init__(self) -> None:
        self.values: list[Decimal] = list(ZERO_TERMS)
        self._mm_assets: set[str] = set()

    def patch(self, name: str, old: Terms, new: Terms) -> None:
        """`total − old term + new term`; MM snaps to exact zero once no asset has any."""
        if new is old:
            return
        v = self.values
        v[0] = _add(v[0], _sub(new[0], old[0]))
        v[1] = _add(v[1], _sub(new[1], old[1]))
        v[2] = _add(v[2], _sub(new[2], old[2]))
        v[3] = _add(v[3], _sub(new[3], old[3]))
        v[4] = _add(v[4], _sub(new[4], old[4]))
        if new[2] or new[3] or new[4]:
            self._mm_assets.add(name)
        else:
            self._mm_assets.discard(name)
            if not self._mm_assets:
                v[2] = v[3] = v[4] = ZERO
