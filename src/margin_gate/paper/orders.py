"""Orders, fills and the order book (open orders, lookups, bounded history, ids).

An `Order` is one record for every venue: UM and CM futures, cross-margin (also used for the
spot endpoint) and liquidation orders. Rendering to each API's JSON lives in `views_orders.py`.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Literal

from margin_gate.paper.numbers import ZERO

__all__ = ["SIDES", "Fill", "Order", "OrderBook", "Side", "Venue"]

Venue = Literal["UM", "CM", "MARGIN"]
Side = Literal["BUY", "SELL"]
SIDES: dict[str, Side] = {"BUY": "BUY", "SELL": "SELL"}
# How many finished orders stay queryable; open orders are always kept.
_HISTORY = 10_000
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


@dataclass(slots=True)
class Fill:
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int
    maker: bool
    realized: Decimal = ZERO
    quote_qty: Decimal = ZERO


@dataclass(slots=True)
class Order:
    venue: Venue
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: str  # LIMIT, MARKET, LIMIT_MAKER, LIQUIDATION
    time_in_force: str
    quantity: Decimal
    price: Decimal  # 0 for MARKET
    time: int
    position_side: str = "BOTH"
    reduce_only: bool = False
    close_position: bool = False
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO  # UM/margin: quote; CM: coin ("cumBase")
    update_time: int = 0
    fills: list[Fill] = field(default_factory=list)
    stp: str = "NONE"
    good_till_date: int = 0
    orig_type: str = ""
    # cross-margin only
    side_effect: str = "NO_SIDE_EFFECT"
    quote_order_qty: Decimal = ZERO
    borrowed: Decimal = ZERO
    borrow_asset: str = ""
    auto_repay_at_cancel: bool = True
    locked_asset: str = ""
    locked: Decimal = ZERO

    def __post_init__(self) -> None:
        if not self.orig_type:
            self.orig_type = self.type
        if not self.update_time:
            self.update_time = self.time

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal:
        if not self.executed_qty:
            return ZERO
        if self.venue == "CM":
            # inverse contracts: the contract-weighted harmonic mean of the fill prices
            total = sum((f.qty / f.price for f in self.fills), ZERO)
            return self.executed_qty / total if total else ZERO
        return self.cum_quote / self.executed_qty

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty


class OrderBook:
    """Open orders by id plus a bounded history; order, trade and transaction id counters."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self._next_order = rng.randrange(1_000_000_000, 9_000_000_000)
        self._next_trade = rng.randrange(100_000_000, 900_000_000)
        self._next_tran = rng.randrange(100_000_000_000, 900_000_000_000)
        self.open: dict[int, Order] = {}
        self._history: OrderedDict[int, Order] = OrderedDict()

    def next_order_id(self) -> int:
        self._next_order += 1
        return self._next_order

    def next_trade_id(self) -> int:
        self._next_trade += 1
        return self._next_trade

    def next_tran_id(self) -> int:
        self._next_tran += 1
        return self._next_tran

    def add(self, order: Order) -> None:
        self._history[order.order_id] = order
        if order.is_open:
            self.open[order.order_id] = order
        while len(self._history) > _HISTORY:
            oldest, old = next(iter(self._history.items()))
            if old.is_open:
                break
            del self._history[oldest]

    def closed(self, order: Order) -> None:
        """Call when an order leaves the open set (filled, cancelled, expired)."""
        self.open.pop(order.order_id, None)

    def find(
        self, venue: Venue, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order | None:
        if order_id is not None:
            order = self._history.get(order_id)
            if order is not None and order.venue == venue and order.symbol == symbol:
                return order
            return None
        if client_id:
            for order in reversed(self._history.values()):
                if (
                    order.client_order_id == client_id
                    and order.venue == venue
                    and order.symbol == symbol
                ):
                    return order
        return None

    def open_orders(self, venue: Venue, symbol: str | None = None) -> Iterator[Order]:
        for order in list(self.open.values()):
            if order.venue == venue and (symbol is None or order.symbol == symbol):
                yield order

    def client_id_in_use(self, venue: Venue, client_id: str) -> bool:
        return any(o.client_order_id == client_id and o.venue == venue for o in self.open.values())

    def count_open(self, venue: Venue, symbol: str) -> int:
        return sum(1 for o in self.open.values() if o.venue == venue and o.symbol == symbol)

    def new_client_id(self, prefix: str = "paper") -> str:
        return f"{prefix}-{self.rng.getrandbits(64):016x}"
