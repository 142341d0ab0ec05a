"""State files: the shipped default, strict keys, TOML, and export → load round trips."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from margin_gate.paper import PaperExchange
from margin_gate.paper import export_state
from margin_gate.paper import load_state
from margin_gate.paper import parse_state
from margin_gate.paper.loader import StateError
from margin_gate.paper.unimmr import compute
from tests.unit.paper import states

DEFAULT = Path(__file__).resolve().parents[3] / "config" / "paper-state.json"


def test_the_shipped_state_loads_and_is_healthy() -> None:
    state = load_state(DEFAULT)
    ex = PaperExchange(state)

    assert state.source == DEFAULT
    assert {"BTCUSDT", "ETHUSDT"} <= state.um_symbols.keys()
    assert "BTCUSD_PERP" in state.cm_symbols
    assert {"BTCUSDT", "ETHUSDT"} <= state.margin_symbols.keys()
    assert len(state.keys) >= 2
    assert all("PAPERONLY" in k.api_key for k in state.keys)
    assert ex.status == "NORMAL"
    assert ex.risk().uni_mmr is not None


def test_shipped_brackets_are_continuous() -> None:
    """cum_n = cum_{n-1} + floor_n × (mmr_n − mmr_{n-1}) (binance-pm.md §1.5, DERIVED)."""
    state = load_state(DEFAULT)
    for spec in (*state.um_symbols.values(), *state.cm_symbols.values()):
        for prev, cur in zip(spec.brackets, spec.brackets[1:], strict=False):
            assert prev.cap == cur.floor, spec.symbol
            assert cur.cum == prev.cum + cur.floor * (cur.mmr - prev.mmr), (spec.symbol, cur)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"risk__reduce_onyl": "1.3"}, "unknown key 'risk.reduce_onyl'"),
        ({"markets__um__BTCUSDT__filter": {}}, "unknown key 'markets.um.BTCUSDT.filter'"),
        ({"prices__mark": {"BTCUSDT": "1"}}, "missing key 'prices.mark.ETHUSDT'"),
        ({"matching__spread": "abc"}, "'matching.spread' is not a number"),
        ({"risk__reduce_only": "1.01"}, "liquidation <= reduce_only"),
    ],
)
def test_bad_state_files_name_the_key(change: dict[str, object], message: str) -> None:
    with pytest.raises(StateError, match=message.replace("(", r"\(").replace(".", r"\.")):
        states.build(states.simple(), **change)


def test_position_side_must_match_the_mode() -> None:
    data = states.simple()
    data["account"]["dual_side_position"] = True
    data["account"]["um_positions"][0]["position_side"] = "BOTH"
    with pytest.raises(StateError, match="does not match dual_side_position"):
        parse_state(data)


def test_toml_state_reads_like_json(tmp_path: Path) -> None:
    toml = tmp_path / "state.toml"
    toml.write_text(
        """
seed = 3
[[keys]]
api_key = "k"
secret = "s"
[markets.um.BTCUSDT]
base = "BTC"
brackets = [{initial_leverage = 50, floor = 0, cap = 1e9, mmr = 0.01}]
[account.balances.USDT]
um_wallet_balance = 10000.0
[[account.um_positions]]
symbol = "BTCUSDT"
amount = 2
entry_price = 50000
[prices.mark]
BTCUSDT = 50000
[prices.asset_index]
BTC = 50000
"""
    )
    state = load_state(toml)
    ex = PaperExchange(state)

    assert ex.risk().uni_mmr == Decimal(10)
    assert tomllib.loads(toml.read_text())["seed"] == state.seed


def test_export_round_trips_to_the_same_risk(tmp_path: Path) -> None:
    state = states.build(states.example_1_9())
    ex = PaperExchange(state)

    again = parse_state(export_state(ex, secrets=True))

    assert compute(PaperExchange(again).ledger, again) == ex.risk()
    assert again.keys == state.keys
