"""Open and in-flight orders: their worst-case legs, grouped per symbol, and the side rule.

Rule (design point 5): per group (futures symbol, margin pair, loaned asset) the pending legs
split into a BUY side and a SELL side. Both sides filling nets out, so the worst case is one
side filling in full: the scenario with the lower `ΔE_usd − b × ΔMM_usd` (b = the policy's
buffer, setting `pending_buffer`). A candidate order fills in both scenarios. Within a
scenario, capped legs (reduceOnly, closePosition, hedge closes) fill first, then the others:
that order leaves the largest position (a reduce-only close followed by a plain order on the
same side goes furthest past zero).

Approximation: groups are chosen independently and their per-asset deltas added; the haircut
is then applied exactly to each asset's summed equity. Two groups that share an asset (every
USDT-margined symbol, two margin pairs quoted in USDT) are each judged on their own, and a
MARGIN_BUY's borrowed shortfall is computed against the snapshot's free balance, not the free
balance left after other pending margin orders fill. Both are second-order; docs/margin-engine.md
discusses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from margin_gate.margin.effects import Effect
from margin_gate.margin.effects import RiskView
from margin_gate.margin.effects import group_effect
from margin_gate.margin.legs import GroupKey
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.legs import capped_first
from margin_gate.margin.legs import leg_from_json
from margin_gate.margin.legs import leg_to_json
from margin_gate.margin.legs import open_order_leg
from margin_gate.margin.model import Market
from margin_gate.margin.model import OpenOrder

__all__ = [
    "OrderRef",
    "PendingBook",
    "PendingOrder",
    "capped_first",
    "pending_from_open_order",
    "worst_effect",
]

DUPLICATE_KEY = "pending order {key} is already in the book"


@dataclass(frozen=True, slots=True)
class OrderRef:
    """Identifies an existing order (a modify's target) by exchange id or client id."""

    market: Market
    symbol: str
    order_id: str | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """A resting or in-flight order as its worst-case legs.

    `key` is unique in the book: resting orders use `market:symbol:orderId`; the gateway picks
    keys for in-flight reservations. `order_id` / `client_order_id` let a modify find it.
    """

    key: str
    legs: tuple[Leg, ...]
    order_id: str | None = None
    client_order_id: str | None = None
    in_flight: bool = False

    def to_json(self) -> dict[str, object]:
        """Plain JSON-able form: strings, and the legs as a list of flat string dicts."""
        return {
            "key": self.key,
            "order_id": self.order_id or "",
            "client_order_id": self.client_order_id or "",
            "in_flight": "true" if self.in_flight else "false",
            "legs": [leg_to_json(leg) for leg in self.legs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PendingOrder:
        """Inverse of `to_json`; ValueError/KeyError/TypeError on malformed data."""
        legs = data["legs"]
        if not isinstance(legs, list):
            raise TypeError("legs must be a list")
        return cls(
            key=str(data["key"]),
            legs=tuple(leg_from_json(leg) for leg in legs),
            order_id=str(data["order_id"]) or None,
            client_order_id=str(data["client_order_id"]) or None,
            in_flight=data["in_flight"] == "true",
        )


def pending_from_open_order(order: OpenOrder) -> PendingOrder:
    """A resting order from the snapshot, keyed `market:symbol:orderId`."""
    return PendingOrder(
        f"{order.market}:{order.symbol}:{order.order_id}",
        (open_order_leg(order),),
        order.order_id,
        order.client_order_id,
    )


def worst_effect(
    view: RiskView, key: GroupKey, pending: Sequence[Leg], candidate: Sequence[Leg] = ()
) -> Effect:
    """The worse (lower score) of "all BUY-side pending legs fill" and "all SELL-side pending
    legs fill", with `candidate` filling in both; without pending legs, the candidate alone."""
    if not pending:
        return group_effect(view, key, capped_first(candidate))
    buys = [leg for leg in pending if leg.side == "BUY"]
    sells = [leg for leg in pending if leg.side == "SELL"]
    buy = group_effect(view, key, capped_first([*buys, *candidate]))
    sell = group_effect(view, key, capped_first([*sells, *candidate]))
    return buy if buy.score <= sell.score else sell


class PendingBook:
    """Pending orders by key, and their legs grouped per `GroupKey`. Adding or removing an
    order is O(its legs); `legs` sorts a group's legs by order key on demand (the result never
    depends on arrival order). The per-group sums live in `groups` (owned by `AccountRisk`)."""

    __slots__ = ("_by_ref", "_groups", "_orders")

    def __init__(self) -> None:
        self._orders: dict[str, PendingOrder] = {}
        self._groups: dict[GroupKey, dict[str, tuple[Leg, ...]]] = {}
        self._by_ref: dict[tuple[str, str, str], str] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, key: object) -> bool:
        return key in self._orders

    def order(self, key: str) -> PendingOrder | None:
        return self._orders.get(key)

    def has_group(self, key: GroupKey) -> bool:
        """Whether any pending leg sits on group `key`."""
        return key in self._groups

    def group_keys(self) -> list[GroupKey]:
        return sorted(self._groups)

    def groups_of(self, key: str) -> set[GroupKey]:
        order = self._orders.get(key)
        return set() if order is None else {leg.key for leg in order.legs}

    def add(self, order: PendingOrder) -> set[GroupKey]:
        """Add `order`; returns the groups whose legs changed. ValueError on a duplicate key."""
        if order.key in self._orders:
            raise ValueError(DUPLICATE_KEY.format(key=order.key))
        self._orders[order.key] = order
        touched: set[GroupKey] = set()
        for leg in order.legs:
            group = self._groups.get(leg.key)
            if group is None:
                group = self._groups[leg.key] = {}
            group[order.key] = (*group.get(order.key, ()), leg)
            touched.add(leg.key)
        for ref in self._refs(order):
            self._by_ref[ref] = order.key
        return touched

    def remove(self, key: str) -> set[GroupKey]:
        """Remove order `key` (unknown keys are ignored); returns the groups that changed."""
        order = self._orders.pop(key, None)
        if order is None:
            return set()
        touched = {leg.key for leg in order.legs}
        for group_key in touched:
            group = self._groups[group_key]
            del group[key]
            if not group:
                del self._groups[group_key]
        for ref in self._refs(order):
            self._by_ref.pop(ref, None)
        return touched

    def legs(self, key: GroupKey, exclude: str | None = None) -> list[Leg]:
        """Legs pending on group `key`, in order-key order, without order `exclude`
        (O(legs × log legs): for the reference computation and diagnostics)."""
        group = self._groups.get(key)
        if group is None:
            return []
        return [leg for k in sorted(group) if k != exclude for leg in group[k]]

    def find(self, ref: OrderRef) -> str | None:
        """The key of the pending order `ref` names, by order id first, then client id."""
        for kind, value in (("id", ref.order_id), ("client", ref.client_order_id)):
            if value is not None:
                found = self._by_ref.get((f"{ref.market}:{ref.symbol}", kind, value))
                if found is not None:
                    return found
        return None

    def _refs(self, order: PendingOrder) -> list[tuple[str, str, str]]:
        first = order.legs[0] if order.legs else None
        if not isinstance(first, OrderLeg):
            return []
        where = f"{first.market}:{first.symbol}"
        refs = []
        if order.order_id is not None:
            refs.append((where, "id", order.order_id))
        if order.client_order_id is not None:
            refs.append((where, "client", order.client_order_id))
        return refs
