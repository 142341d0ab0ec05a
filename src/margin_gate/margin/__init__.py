"""The margin engine: exact uniMMR and worst-case post-fill projections (issue 4).

Pure: no I/O, no asyncio, no clock, `Decimal` throughout. What the gateway calls:

    intent = parse_intent(method, path, params, instruments)   # OrderIntent | BinanceError
    risk = AccountRisk.from_snapshot(snapshot, settings)        # once per snapshot
    risk.update_position(...) / update_mark_price(...) / ...    # on stream events, O(1)
    risk.add_pending(PendingOrder(...)) / risk.remove_pending(key)
    projection = project(risk, intent)                          # uniMMR before/after, parts
    is_risk_reducing(risk, intent)                              # may bypass the floor

Formulas and every UNCONFIRMED choice: docs/margin-engine.md and binance-pm.md §1.
"""

from margin_gate.margin.decimals import ENGINE_CONTEXT
from margin_gate.margin.direction import is_risk_reducing
from margin_gate.margin.intents import ORDER_ROUTES
from margin_gate.margin.intents import OrderIntent
from margin_gate.margin.intents import parse_intent
from margin_gate.margin.legs import Leg
from margin_gate.margin.legs import LoanLeg
from margin_gate.margin.legs import OrderLeg
from margin_gate.margin.model import AccountSnapshot
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Bracket
from margin_gate.margin.model import CollateralTier
from margin_gate.margin.model import Commission
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import Position
from margin_gate.margin.model import SnapshotError
from margin_gate.margin.model import instrument_map
from margin_gate.margin.pending import OrderRef
from margin_gate.margin.pending import PendingOrder
from margin_gate.margin.pending import pending_from_open_order
from margin_gate.margin.project import Projection
from margin_gate.margin.project import project
from margin_gate.margin.risk import AccountRisk
from margin_gate.margin.settings import ProjectionSettings
from margin_gate.margin.unimmr import AssetRow
from margin_gate.margin.unimmr import Breakdown
from margin_gate.margin.unimmr import compute

__all__ = [
    "ENGINE_CONTEXT",
    "ORDER_ROUTES",
    "AccountRisk",
    "AccountSnapshot",
    "AssetRow",
    "Balance",
    "Bracket",
    "Breakdown",
    "CollateralTier",
    "Commission",
    "Instrument",
    "Leg",
    "LoanLeg",
    "OpenOrder",
    "OrderIntent",
    "OrderLeg",
    "OrderRef",
    "PendingOrder",
    "Position",
    "Projection",
    "ProjectionSettings",
    "SnapshotError",
    "compute",
    "instrument_map",
    "is_risk_reducing",
    "parse_intent",
    "pending_from_open_order",
    "project",
]
