"""The live paper account: per-asset wallets, futures positions, prices and leverage.

Plain mutable containers; every mutation path bumps `version` (via `touch`) so the cached risk
snapshot knows when to recompute. Fills and transfers that change these live in `fills.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from margin_gate.paper.numbers import ZERO
from margin_gate.paper.schema import Kind
from margin_gate.paper.schema import PaperState
from margin_gate.paper.schema import PositionSide

__all__ = ["Balance", "Ledger", "Position", "PositionKey"]

PositionKey = tuple[Kind, str, PositionSide]
_SIDES: tuple[PositionSide, ...] = ("BOTH", "LONG", "SHORT")


@dataclass(slots=True)
class Balance:
    """One asset across the three PM wallets (native units)."""

    asset: str
    free: Decimal = ZERO  # cross-margin free
    locked: Decimal = ZERO  # cross-margin locked by open margin orders
    borrowed: Decimal = ZERO
    interest: Decimal = ZERO
    um_wallet: Decimal = ZERO
    cm_wallet: Decimal = ZERO

    @property
    def cross_margin_asset(self) -> Decimal:
        return self.free + self.locked

    @property
    def liability(self) -> Decimal:
        return self.borrowed + self.interest


@dataclass(slots=True)
class Position:
    """A futures position leg. `amount` is signed (short < 0); CM amounts are contracts."""

    kind: Kind
    symbol: str
    side: PositionSide
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized: Decimal = ZERO  # accumulated realized PnL ("cr" on ACCOUNT_UPDATE)
    update_time: int = 0


class Ledger:
    """The account's balances and positions plus the market prices they are valued at."""

    def __init__(self, state: PaperState, now_ms: int) -> None:
        spec = state.account
        self.dual_side = spec.dual_side_position
        self.balances: dict[str, Balance] = {}
        for asset, b in spec.balances.items():
            self.balances[asset] = Balance(
                asset=asset,
                free=b.cross_margin_asset,
                borrowed=b.cross_margin_borrowed,
                interest=b.cross_margin_interest,
                um_wallet=b.um_wallet_balance,
                cm_wallet=b.cm_wallet_balance,
            )
        self.positions: dict[PositionKey, Position] = {}
        for kind, items in (("UM", spec.um_positions), ("CM", spec.cm_positions)):
            for p in items:
                pos = self.position(kind, p.symbol, p.position_side)  # type: ignore[arg-type]
                pos.amount = p.amount
                pos.entry_price = p.entry_price if p.amount else ZERO
                pos.update_time = now_ms
        self.mark = dict(state.prices.mark)
        self.index = dict(state.prices.index)
        self.asset_index = dict(state.prices.asset_index)
        self.leverage = dict(spec.leverage)
        self.version = 0
        self.update_time = now_ms

    def touch(self, now_ms: int) -> None:
        self.version += 1
        self.update_time = now_ms

    def balance(self, asset: str) -> Balance:
        found = self.balances.get(asset)
        if found is None:
            found = self.balances[asset] = Balance(asset)
        return found

    def position(self, kind: Kind, symbol: str, side: PositionSide) -> Position:
        key = (kind, symbol, side)
        found = self.positions.get(key)
        if found is None:
            found = self.positions[key] = Position(kind, symbol, side)
        return found

    def open_positions(self, kind: Kind | None = None) -> Iterator[Position]:
        for pos in self.positions.values():
            if pos.amount != 0 and (kind is None or pos.kind == kind):
                yield pos

    def legs(self, kind: Kind, symbol: str) -> Iterator[Position]:
        for side in _SIDES:
            pos = self.positions.get((kind, symbol, side))
            if pos is not None:
                yield pos
