"""The paper exchange: a Binance-compatible Portfolio Margin venue on loopback (issue 3).

Embedding API (the gateway with `upstream = "paper"`, and tests):

    load_state(path) -> PaperState          a JSON or TOML state file (docs/paper-exchange.md)
    create_app(state, *, control_api=False, clock=None) -> Starlette
    await start_paper_server(state_or_path, *, host="127.0.0.1", port=0, control_api=False)
        -> PaperServer (.url, .port, .exchange, await .stop())
"""

from margin_gate.paper.app import create_app
from margin_gate.paper.engine import PaperExchange
from margin_gate.paper.engine import PriceUpdate
from margin_gate.paper.export import export_state
from margin_gate.paper.loader import StateError
from margin_gate.paper.loader import load_state
from margin_gate.paper.loader import parse_state
from margin_gate.paper.schema import PaperState
from margin_gate.paper.server import PaperServer
from margin_gate.paper.server import start_paper_server

__all__ = [
    "PaperExchange",
    "PaperServer",
    "PaperState",
    "PriceUpdate",
    "StateError",
    "create_app",
    "export_state",
    "load_state",
    "parse_state",
    "start_paper_server",
]
