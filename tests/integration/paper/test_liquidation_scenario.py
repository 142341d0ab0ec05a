"""Issue 3's scenario: move the price until the account crosses 1.20 and then 1.05.

Account (`states.simple()`): 10,000 USDT in the UM wallet, long 2 BTCUSDT at 50,000, one 1%
bracket, no spread, taker fee 0.05%, clearance fee 0.5%.
    uniMMR(P) = (10,000 + 2·(P − 50,000)) / (2·P·1%)
    45,600 → 1.316 (MARGIN_CALL)   45,540 → 1.186 (REDUCE_ONLY)   45,450 → 0.99 (liquidation)
Everything goes through real sockets: signed REST with aiohttp, the PM user stream over a
WebSocket, and the control API to move prices and hold the liquidation while we look.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp

from margin_gate.paper import start_paper_server
from tests.integration.paper.aio import control
from tests.integration.paper.aio import listen_key
from tests.integration.paper.aio import read_until
from tests.integration.paper.aio import signed
from tests.unit.paper import states

D = Decimal


def _is_risk(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["e"] == "riskLevelChange" and e["s"] == status


async def test_price_walk_through_reduce_only_and_liquidation() -> None:
    server = await start_paper_server(states.build(states.simple()), control_api=True)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            await _scenario(s, server.url, server.ws_url)
    finally:
        await server.stop()


async def _scenario(s: aiohttp.ClientSession, url: str, ws_url: str) -> None:
    key = await listen_key(s, url)
    ws = await s.ws_connect(f"{ws_url}/pm/ws/{key}")
    try:
        # A resting order that the liquidation will cancel.
        status, resting = await signed(
            s, url, "POST", "/papi/v1/um/order",
            symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
            quantity="1", price="2000",
        )  # fmt: skip
        assert status == 200
        await read_until(ws, lambda e: e["e"] == "ORDER_TRADE_UPDATE")

        # 1. 45,600: margin call, still free to trade.
        moved = await control(s, url, "/prices", base="BTC", price="45600")
        assert (moved["accountStatus"], moved["uniMMR"]) == ("MARGIN_CALL", "1.31578947")
        [margin_call] = await read_until(ws, _is_risk("MARGIN_CALL"))
        assert (margin_call["u"], margin_call["eq"], margin_call["m"]) == (
            "1.31578947",
            "1200.00000000",
            "912.00000000",
        )

        # 2. 45,540: at or below 1.20 → reduce-only. Increasing risk is refused ...
        await control(s, url, "/prices", base="BTC", price="45540")
        [reduce_only] = await read_until(ws, _is_risk("REDUCE_ONLY"))
        assert reduce_only["u"] == "1.18577075"
        status, refused = await signed(
            s, url, "POST", "/papi/v1/um/order",
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1",
        )  # fmt: skip
        assert (status, refused["code"]) == (400, -4405)
        # ... reducing it is not.
        status, reduced = await signed(
            s, url, "POST", "/papi/v1/um/order",
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.001",
            newOrderRespType="RESULT",
        )  # fmt: skip
        assert (status, reduced["status"]) == (200, "FILLED")
        await read_until(ws, lambda e: e["e"] == "ACCOUNT_UPDATE")
        status, account = await signed(s, url, "GET", "/papi/v1/account")
        assert account["accountStatus"] == "REDUCE_ONLY"

        # 3. 45,450: below 1.05 → the liquidation engine takes over. Hold it to look inside.
        await control(s, url, "/liquidation", hold=True)
        moved = await control(s, url, "/prices", base="BTC", price="45450")
        assert moved["liquidating"] is True
        [force] = await read_until(ws, _is_risk("FORCE_LIQUIDATION"))
        assert D(force["u"]) < D("1.05")
        status, account = await signed(s, url, "GET", "/papi/v1/account")
        assert account["accountStatus"] == "FORCE_LIQUIDATION"
        status, blocked = await signed(
            s, url, "POST", "/papi/v1/um/order",
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1",
        )  # fmt: skip
        assert (status, blocked["code"]) == (400, -3048)
        assert blocked["msg"] == (
            "Unable to trade. Your margin account is currently in liquidation. "
            "Please try again once the liquidation is processed."
        )

        # 4. Release: open orders cancelled, IOC liquidation orders on the stream, fee charged.
        await control(s, url, "/liquidation", hold=False)
        events = await read_until(
            ws, lambda e: e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] == "INSURANCE_CLEAR"
        )
    finally:
        await ws.close()

    cancelled = [e for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "CANCELED"]
    assert [e["o"]["i"] for e in cancelled] == [resting["orderId"]]
    liquidation = [
        e["o"] for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["o"] == "LIQUIDATION"
    ]
    assert [(o["x"], o["X"]) for o in liquidation] == [("NEW", "NEW"), ("CALCULATED", "FILLED")]
    fill = liquidation[-1]
    assert fill["c"].startswith("autoclose-")
    assert (fill["f"], fill["S"], fill["z"], fill["L"]) == ("IOC", "SELL", "1.999", "45450.0")
    trade_update = next(
        e for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "CALCULATED"
    )
    position_update = next(
        e for e in events if e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] == "ORDER"
    )
    assert position_update["T"] == trade_update["T"]
    assert position_update["a"]["P"][0]["pa"] == "0"

    # 5. Final state: flat, back to NORMAL, balances as computed by hand.
    qty, price = D("1.999"), D(45450)
    expected = (
        D(10000)
        + D("0.001") * (45540 - 50000)  # the reduce-only sell
        - D("0.001") * 45540 * D("0.0005")
        + qty * (price - 50000)  # the liquidation fill
        - qty * price * D("0.0005")  # taker fee
        - qty * price * D("0.005")  # clearance fee
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s2:
        status, account = await signed(s2, url, "GET", "/papi/v1/account")
        status, balance = await signed(s2, url, "GET", "/papi/v1/balance", asset="USDT")
        status, positions = await signed(s2, url, "GET", "/papi/v1/um/positionRisk")
        status, open_orders = await signed(s2, url, "GET", "/papi/v1/um/openOrders")
    assert (account["accountStatus"], account["uniMMR"]) == ("NORMAL", "99999999")
    assert D(balance["umWalletBalance"]) == expected.quantize(D("0.00000001"))
    assert balance["umWalletBalance"] == "400.36720500"
    assert positions == []
    assert open_orders == []
