"""The gated order routes and the `OrderIntent` they parse into.

`ORDER_ROUTES` is the contract with the gateway's route table: every (method, path) listed
here must go through `parse_intent` and the policy; binance-pm.md §2.3 (PAPI) and §2.4
(classic fapi, dapi, sapi, spot) name the endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from margin_gate.margin.legs import Leg
from margin_gate.margin.pending import OrderRef

__all__ = ["ORDER_ROUTES", "IntentKind", "OrderIntent", "RouteKind"]

RouteKind = Literal[
    "um_order",  # PAPI UM order: LIMIT / MARKET
    "cm_order",  # PAPI CM order: LIMIT / MARKET, quantity in contracts
    "fapi_order",  # classic UM order: also stop types (projected as conditional)
    "dapi_order",  # classic CM order: also stop types
    "um_modify",  # PUT: replace an open UM LIMIT order
    "cm_modify",  # PUT: replace an open CM LIMIT order
    "um_conditional",  # PAPI UM conditional (strategyType, stopPrice); deprecated 2026-04-28
    "cm_conditional",  # PAPI CM conditional
    "um_algo",  # PAPI UM algo / fapi algoOrder (type, triggerPrice)
    "cm_algo",  # dapi algoOrder
    "um_batch",  # fapi batchOrders: JSON list, ≤ 5 orders, all projected together
    "cm_batch",  # dapi batchOrders
    "margin_order",  # PAPI / sapi Cross Margin order with sideEffectType
    "spot_order",  # spot order, treated as the margin wallet with NO_SIDE_EFFECT
    "margin_oco",  # PAPI margin OCO: two mutually exclusive legs
    "borrow",  # marginLoan
    "repay",  # repayLoan
    "repay_debt",  # margin/repay-debt (amount optional: everything owed)
]
IntentKind = Literal[
    "order",  # one order, filled at its worst price
    "conditional",  # a stop / take-profit / trailing order, as if triggered
    "modify",  # replaces the open order in `replaces`
    "batch",  # several orders that may all fill
    "oco",  # mutually exclusive alternatives: the worse one counts
    "borrow",  # manual loan
    "repay",  # manual repayment
]

ORDER_ROUTES: Mapping[tuple[str, str], RouteKind] = MappingProxyType(
    {
        ("POST", "/papi/v1/um/order"): "um_order",
        ("PUT", "/papi/v1/um/order"): "um_modify",
        ("POST", "/papi/v1/cm/order"): "cm_order",
        ("PUT", "/papi/v1/cm/order"): "cm_modify",
        ("POST", "/papi/v1/um/algo/order"): "um_algo",
        ("POST", "/papi/v1/um/conditional/order"): "um_conditional",
        ("POST", "/papi/v1/cm/conditional/order"): "cm_conditional",
        ("POST", "/papi/v1/margin/order"): "margin_order",
        ("POST", "/papi/v1/margin/order/oco"): "margin_oco",
        ("POST", "/papi/v1/marginLoan"): "borrow",
        ("POST", "/papi/v1/repayLoan"): "repay",
        ("POST", "/papi/v1/margin/repay-debt"): "repay_debt",
        ("POST", "/fapi/v1/order"): "fapi_order",
        ("PUT", "/fapi/v1/order"): "um_modify",
        ("POST", "/fapi/v1/algoOrder"): "um_algo",
        ("POST", "/fapi/v1/batchOrders"): "um_batch",
        ("POST", "/dapi/v1/order"): "dapi_order",
        ("PUT", "/dapi/v1/order"): "cm_modify",
        ("POST", "/dapi/v1/algoOrder"): "cm_algo",
        ("POST", "/dapi/v1/batchOrders"): "cm_batch",
        ("POST", "/sapi/v1/margin/order"): "margin_order",
        ("POST", "/api/v3/order"): "spot_order",
    }
)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a request asks for, as worst-case legs (prices resolved later against marks).

    `alternatives` holds one tuple of legs that fill together, or, for an OCO, one tuple per
    mutually exclusive leg. `replaces` names the open order a modify replaces. `conditional`:
    some leg is a futures stop / take-profit / trailing order (subject to `conditional_mode`).
    """

    kind: IntentKind
    route: RouteKind
    alternatives: tuple[tuple[Leg, ...], ...]
    replaces: OrderRef | None = None
    conditional: bool = False

    @property
    def legs(self) -> tuple[Leg, ...]:
        """Every leg of every alternative."""
        return tuple(leg for alt in self.alternatives for leg in alt)
