"""The scenario: one script of orders and price moves, run twice with an unmodified client.

Sent straight to a paper exchange, the script gets the account liquidated. Sent through the
gateway with default buffers (min_unimmr_after 1.5), the account's uniMMR — as the paper
exchange itself computes it — stays above 1.20 after every step, and every risk-reducing order
in the script is accepted.

Account (harness.py): 10,000 USDT, long 2 BTCUSDT @ 50,000, 1 % bracket, taker fee 0.05 %.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from binance.exceptions import BinanceAPIException

from margin_gate.paper import create_app as create_paper
from tests.integration.e2e.harness import Recorder
from tests.integration.e2e.harness import binance_client
from tests.integration.e2e.harness import stack
from tests.support.servers import ThreadServer
from tests.unit.paper import states

D = Decimal
# (kind, argument): "order" = (side, quantity, reducing?) MARKET BTCUSDT; "price" = BTC price
SCRIPT: list[tuple[str, Any]] = [
    ("order", ("BUY", "6", False)),
    ("price", "49800"),
    ("order", ("BUY", "6", False)),  # the one that would sink it: refused through the gateway
    ("order", ("SELL", "1", True)),
    ("price", "49500"),  # directly: liquidation
    ("order", ("SELL", "2", True)),
    ("price", "49300"),
    ("order", ("BUY", "0.5", False)),
    ("order", ("SELL", "1", True)),
]


def run(
    client: Any, move: Callable[[str], dict[str, Any]], unimmr: Callable[[], Decimal]
) -> list[dict[str, Any]]:
    """Play SCRIPT; one row per step with the answer and the exchange's uniMMR after it."""
    rows = []
    for kind, arg in SCRIPT:
        row: dict[str, Any] = {"step": kind, "arg": arg}
        if kind == "price":
            moved = move(arg)
            row["status"] = moved["accountStatus"]
        else:
            side, qty, reducing = arg
            row["reducing"] = reducing
            try:
                client.papi_create_um_order(symbol="BTCUSDT", side=side, type="MARKET",
                                            quantity=qty, newOrderRespType="RESULT")  # fmt: skip
                row["accepted"] = True
                row["rule"] = client.response.headers.get("x-margin-gate-rule")
            except BinanceAPIException as exc:
                row["accepted"], row["code"] = False, exc.code
        row["unimmr"] = unimmr()
        rows.append(row)
    return rows


@contextlib.contextmanager
def direct_paper() -> Iterator[tuple[str, Any]]:
    app = create_paper(states.build(states.simple()), control_api=True)
    server = ThreadServer(Recorder(app)).start()
    try:
        yield server.url, app.state.exchange
    finally:
        server.stop()


def test_scenario_when_direct_then_liquidated_and_through_gateway_then_above_120(
    tmp_path: Path,
) -> None:
    import httpx

    # Act 1: straight to the paper exchange, with the paper's own key
    with direct_paper() as (url, exchange), httpx.Client() as http:

        def move_direct(price: str) -> dict[str, Any]:
            r = http.post(f"{url}/paper/control/prices", json={"base": "BTC", "price": price})
            return dict(r.json())

        with binance_client(url, key=states.API_KEY, secret=states.SECRET) as client:
            direct = run(client, move_direct, lambda: D(exchange.uni_mmr_text()))
    # Act 2: the same script through the gateway (default profile: floor 1.5)
    with stack(tmp_path) as s:

        def move_gw(price: str) -> dict[str, Any]:
            moved = s.price("BTC", price)
            s.wait_view(lambda v: v.risk is not None and v.risk.mark_price("BTCUSDT") == D(price))
            return dict(moved)

        with binance_client(s.gateway_url) as client:
            through = run(client, move_gw, lambda: D(s.exchange.uni_mmr_text()))
    print("direct:", direct, "\nthrough the gateway:", through)
    # Assert: directly, the account went below 1.05 (liquidation) at some step
    statuses = [r.get("status") for r in direct]
    assert "FORCE_LIQUIDATION" in statuses or min(r["unimmr"] for r in direct) < D("1.05"), direct
    # through the gateway: above 1.20 after every step (the paper exchange's own number)
    assert all(r["unimmr"] > D("1.20") for r in through), through
    # every risk-reducing order accepted, as risk-reducing
    reducing = [r for r in through if r.get("reducing")]
    assert reducing
    assert all(r["accepted"] and r["rule"] == "policy.risk_reducing" for r in reducing), through
    # and the order that would have sunk it was refused with -2019
    assert through[2]["accepted"] is False
    assert through[2]["code"] == -2019
