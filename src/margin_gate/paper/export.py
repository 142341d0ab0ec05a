"""The live paper account written back in the state-file schema (loader.py reads it again).

This is how a test hands the exchange's exact state to another component, e.g. to check that
the gateway's margin engine computes the same uniMMR (issue 3: "design your state so a test can
export it"). Secrets are left out unless asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from margin_gate.paper.numbers import plain
from margin_gate.paper.schema import Filters
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import MarginSymbol
from margin_gate.paper.schema import PaperState

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = ["export_state"]

Json = dict[str, Any]


def _filters(f: Filters) -> Json:
    return {
        "tick_size": plain(f.tick_size),
        "min_price": plain(f.min_price),
        "max_price": plain(f.max_price),
        "step_size": plain(f.step_size),
        "min_qty": plain(f.min_qty),
        "max_qty": plain(f.max_qty),
        "min_notional": plain(f.min_notional),
        "multiplier_up": plain(f.multiplier_up),
        "multiplier_down": plain(f.multiplier_down),
        "market_take_bound": plain(f.market_take_bound),
        "max_num_orders": f.max_num_orders,
    }


def _futures(spec: FuturesSymbol) -> Json:
    return {
        "base": spec.base,
        "quote": spec.quote,
        "margin_asset": spec.margin_asset,
        "pair": spec.pair,
        "contract_type": spec.contract_type,
        "delivery_date": spec.delivery_date,
        "onboard_date": spec.onboard_date,
        "contract_size": plain(spec.contract_size),
        "filters": _filters(spec.filters),
        "commission": {"maker": plain(spec.maker), "taker": plain(spec.taker)},
        "funding_rate": plain(spec.funding_rate),
        "brackets": [
            {
                "bracket": b.bracket,
                "initial_leverage": b.initial_leverage,
                "floor": plain(b.floor),
                "cap": plain(b.cap),
                "mmr": plain(b.mmr),
                "cum": plain(b.cum),
            }
            for b in spec.brackets
        ],
    }


def _margin(spec: MarginSymbol) -> Json:
    return {
        "base": spec.base,
        "quote": spec.quote,
        "filters": _filters(spec.filters),
        "commission": {"maker": plain(spec.maker), "taker": plain(spec.taker)},
    }


def _keys(state: PaperState, secrets: bool) -> list[Json]:
    rows = []
    for key in state.keys:
        row: Json = {"name": key.name, "api_key": key.api_key, "type": key.key_type}
        if secrets or key.key_type != "hmac":
            field = "secret" if key.key_type == "hmac" else "public_key_pem"
            row[field] = key.material.decode()
        rows.append(row)
    return rows


def export_state(ex: PaperExchange, *, secrets: bool = False) -> Json:
    """The current account, prices and market definitions as a state-file dict."""
    state, ledger = ex.state, ex.ledger
    risk = state.risk
    positions: dict[str, list[Json]] = {"UM": [], "CM": []}
    for pos in ledger.open_positions():
        positions[pos.kind].append(
            {
                "symbol": pos.symbol,
                "position_side": pos.side,
                "amount": plain(pos.amount),
                "entry_price": plain(pos.entry_price),
            }
        )
    data: Json = {
        "seed": state.seed,
        "markets": {
            "um": {s: _futures(spec) for s, spec in state.um_symbols.items()},
            "cm": {s: _futures(spec) for s, spec in state.cm_symbols.items()},
            "margin": {s: _margin(spec) for s, spec in state.margin_symbols.items()},
        },
        "collateral": {
            "rates": {a: plain(r) for a, r in state.collateral_rates.items()},
            "default_rate": plain(state.default_collateral_rate),
            "tiers": {
                a: [
                    {"floor": plain(t.floor), "cap": plain(t.cap), "rate": plain(t.rate)}
                    for t in ts
                ]
                for a, ts in state.collateral_tiers.items()
            },
        },
        "margin_loans": {
            "maintenance_rates": {a: plain(r) for a, r in state.loan_mmr.items()},
            "default_maintenance_rate": plain(state.default_loan_mmr),
        },
        "risk": {
            "margin_call": plain(risk.margin_call),
            "reduce_only": plain(risk.reduce_only),
            "liquidation": plain(risk.liquidation),
            "hedge_legs_separate": risk.hedge_legs_separate,
            "loan_interest_in_mm": risk.loan_interest_in_mm,
            "no_maint_margin_uni_mmr": risk.no_maint_margin_uni_mmr,
            "clearance_fee_rate": plain(risk.clearance_fee_rate),
            "liquidation_delay_ms": risk.liquidation_delay_ms,
            "um_reduce_only_code": risk.um_reduce_only_code,
            "cm_reduce_only_code": risk.cm_reduce_only_code,
        },
        "matching": {"spread": plain(state.spread)},
        "account": {
            "account_type": state.account.account_type,
            "dual_side_position": ledger.dual_side,
            "balances": {
                b.asset: {
                    "cross_margin_asset": plain(b.cross_margin_asset),
                    "cross_margin_borrowed": plain(b.borrowed),
                    "cross_margin_interest": plain(b.interest),
                    "um_wallet_balance": plain(b.um_wallet),
                    "cm_wallet_balance": plain(b.cm_wallet),
                }
                for b in ledger.balances.values()
            },
            "um_positions": positions["UM"],
            "cm_positions": positions["CM"],
            "leverage": dict(ledger.leverage),
        },
        "prices": {
            "mark": {s: plain(p) for s, p in ledger.mark.items()},
            "index": {s: plain(p) for s, p in ledger.index.items()},
            "asset_index": {a: plain(p) for a, p in ledger.asset_index.items()},
        },
        "keys": _keys(state, secrets),
    }
    return data
