"""State-file builders for paper exchange tests (plain dicts, as a JSON state file would hold)."""

from __future__ import annotations

import copy
from typing import Any

from margin_gate.paper.loader import parse_state
from margin_gate.paper.schema import PaperState

API_KEY = "paper-test-key"
SECRET = "paper-test-secret"

_ONE_BRACKET_UM = [
    {"bracket": 1, "initial_leverage": 100, "floor": "0", "cap": "100000000", "mmr": "0.005"}
]
_ONE_BRACKET_CM = [
    {"bracket": 1, "initial_leverage": 100, "floor": "0", "cap": "100000", "mmr": "0.005"}
]


def example_1_9() -> dict[str, Any]:
    """binance-pm.md §1.9 inputs, with the stated assumptions (P_BTC 40,000, P_ETH 3,000,
    CR 1 / 0.95 / 0.95, 0.5% brackets, 10% loan MMR)."""
    return {
        "keys": [{"name": "t", "api_key": API_KEY, "secret": SECRET}],
        "markets": {
            "um": {
                "BTCUSDT": {"base": "BTC", "brackets": _ONE_BRACKET_UM},
                "BTCUSDT_220624": {
                    "base": "BTC",
                    "pair": "BTCUSDT",
                    "contract_type": "CURRENT_QUARTER",
                    "brackets": _ONE_BRACKET_UM,
                },
            },
            "cm": {
                "BTCUSD_PERP": {
                    "base": "BTC",
                    "contract_size": "100",
                    "filters": {"tick_size": "0.1", "step_size": "1"},
                    "brackets": _ONE_BRACKET_CM,
                }
            },
        },
        "collateral": {"rates": {"USDT": "1", "BTC": "0.95", "ETH": "0.95"}},
        "margin_loans": {"default_maintenance_rate": "0.10"},
        "account": {
            "balances": {
                "USDT": {"cross_margin_asset": "1000", "um_wallet_balance": "5000"},
                "BTC": {
                    "cross_margin_asset": "0.1",
                    "cross_margin_borrowed": "0.04",
                    "cm_wallet_balance": "0.1",
                },
                "ETH": {"cross_margin_asset": "20", "cross_margin_borrowed": "15"},
            },
            "um_positions": [
                {"symbol": "BTCUSDT", "amount": "-0.05", "entry_price": "52000"},
                {"symbol": "BTCUSDT_220624", "amount": "0.04", "entry_price": "52350"},
            ],
            "cm_positions": [{"symbol": "BTCUSD_PERP", "amount": "100", "entry_price": "50000"}],
        },
        "prices": {
            "mark": {"BTCUSDT": "40000", "BTCUSDT_220624": "42000", "BTCUSD_PERP": "40000"},
            "asset_index": {"BTC": "40000", "ETH": "3000"},
        },
    }


def simple() -> dict[str, Any]:
    """A small account whose uniMMR has a closed form: 10,000 USDT in the UM wallet, long
    2 BTCUSDT at 50,000, one 1% bracket, no spread unless a test sets one.

        uniMMR(P) = (10,000 + 2·(P − 50,000)) / (2·P·0.01)
    """
    return {
        "seed": 1,
        "keys": [{"name": "t", "api_key": API_KEY, "secret": SECRET}],
        "markets": {
            "um": {
                "BTCUSDT": {
                    "base": "BTC",
                    "filters": {"tick_size": "0.1", "step_size": "0.001", "min_notional": "5"},
                    "commission": {"maker": "0.0002", "taker": "0.0005"},
                    "brackets": [
                        {
                            "bracket": 1,
                            "initial_leverage": 50,
                            "floor": "0",
                            "cap": "100000000",
                            "mmr": "0.01",
                        }
                    ],
                },
                "ETHUSDT": {
                    "base": "ETH",
                    "filters": {"tick_size": "0.01", "step_size": "0.001", "min_notional": "5"},
                    "brackets": _ONE_BRACKET_UM,
                },
            },
            "cm": {
                "BTCUSD_PERP": {
                    "base": "BTC",
                    "contract_size": "100",
                    "filters": {"tick_size": "0.1", "step_size": "1", "min_qty": "1"},
                    "commission": {"maker": "0.0001", "taker": "0.0004"},
                    "brackets": _ONE_BRACKET_CM,
                }
            },
            "margin": {
                "BTCUSDT": {
                    "base": "BTC",
                    "filters": {"tick_size": "0.01", "step_size": "0.00001", "min_notional": "5"},
                    "commission": {"maker": "0.001", "taker": "0.001"},
                },
                "ETHUSDT": {
                    "base": "ETH",
                    "filters": {"tick_size": "0.01", "step_size": "0.0001", "min_notional": "5"},
                    "commission": {"maker": "0.001", "taker": "0.001"},
                },
            },
        },
        "collateral": {"rates": {"USDT": "1", "BTC": "0.95", "ETH": "0.95"}},
        "risk": {"liquidation_delay_ms": 0},
        "matching": {"spread": "0"},
        "account": {
            "balances": {"USDT": {"um_wallet_balance": "10000"}},
            "um_positions": [{"symbol": "BTCUSDT", "amount": "2", "entry_price": "50000"}],
        },
        "prices": {
            "mark": {"BTCUSDT": "50000", "ETHUSDT": "3000", "BTCUSD_PERP": "50000"},
            "asset_index": {"BTC": "50000", "ETH": "3000"},
        },
    }


def build(data: dict[str, Any], **changes: Any) -> PaperState:
    """Parse a copy of `data` after applying dotted-path changes (`risk__reduce_only="1.3"`)."""
    data = copy.deepcopy(data)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return parse_state(data)
