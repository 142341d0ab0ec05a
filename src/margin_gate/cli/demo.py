"""`margin-gate demo`: the paper exchange, the gateway and a scripted python-binance bot, live.

Everything runs in this process on 127.0.0.1 (uvicorn servers on threads): paper exchange A
(control API on) behind the gateway (memory state, JSONL audit in a temporary directory), and
paper exchange B with the same account for the run without the gateway. The bot is python-binance's
unmodified `Client` with its URL roots pointed at the gateway (clients.md). One line per step;
then the same script straight against B, which gets liquidated; then where the audit log is
and its verification. Needs python-binance (`pip install -e '.[demo]'`, or `scripts/demo`).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import importlib
import importlib.util
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["SCRIPT", "register"]

KEY, SECRET = "PAPERONLYdemoExchangeKey01", "PAPERONLYdemoExchangeSecret01"
BOT_KEY, BOT_SECRET = "PAPERONLYdemoBotKey000001", "PAPERONLYdemoBotSecret0001"
BRACKET = [{"bracket": 1, "initial_leverage": 50, "floor": "0", "cap": "1e8", "mmr": "0.01"}]
STATE: dict[str, Any] = {
    "seed": 7,
    "keys": [{"name": "gateway", "api_key": KEY, "secret": SECRET}],
    "markets": {"um": {"BTCUSDT": {
        "base": "BTC", "brackets": BRACKET,
        "filters": {"tick_size": "0.1", "step_size": "0.001", "min_notional": "5"},
        "commission": {"maker": "0.0002", "taker": "0.0005"}}}},
    "collateral": {"rates": {"USDT": "1", "BTC": "0.95"}},
    "risk": {"liquidation_delay_ms": 0},
    "matching": {"spread": "0"},
    "account": {"balances": {"USDT": {"um_wallet_balance": "10000"}},
                "um_positions": [{"symbol": "BTCUSDT", "amount": "2", "entry_price": "50000"}]},
    "prices": {"mark": {"BTCUSDT": "50000"}, "asset_index": {"BTC": "50000"}},
}  # fmt: skip
# (kind, argument): "order" = (side, quantity) MARKET BTCUSDT; "price" = the BTC price
SCRIPT: list[tuple[str, Any]] = [
    ("order", ("BUY", "6")),
    ("price", "49800"),
    ("order", ("BUY", "6")),  # would take uniMMR to ~0.95 at the assumed fill: refused
    ("order", ("SELL", "1")),
    ("price", "49500"),  # without the gateway the account is liquidated here
    ("order", ("SELL", "2")),
    ("price", "49300"),
    ("order", ("BUY", "0.5")),
    ("order", ("SELL", "1")),
]


HEADER = (
    " #  endpoint               side  qty symbol   decision rule              uniMMR before → after"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="paper exchange + gateway + a python-binance bot, with live decisions"
    )
    parser.add_argument("--audit-dir", default=None, help="audit directory (default: a temp dir)")
    parser.set_defaults(func=run)


class _Server:
    """A uvicorn server on its own thread (no signal handlers; stops on `stop()`)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("a demo server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    server = _Server(app)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@contextmanager
def _client(url: str, key: str, secret: str) -> Iterator[Any]:
    client_class = importlib.import_module("binance.client").Client  # python-binance, as is

    roots = {"API_URL": f"{url}/api", "MARGIN_API_URL": f"{url}/sapi",
             "FUTURES_URL": f"{url}/fapi", "PAPI_URL": f"{url}/papi"}  # fmt: skip
    loop = asyncio.new_event_loop()  # python-binance grabs the thread's loop
    asyncio.set_event_loop(loop)
    try:
        client = type("GatewayClient", (client_class,), roots)(key, secret, ping=False)
        try:
            yield client
        finally:
            client.close_connection()
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _fmt(value: str | None) -> str:
    if value is None:
        return "    ?"
    d = Decimal(value)
    return "  inf" if d > 1000 else f"{d:5.2f}"


def _play(client: Any, move: Callable[[str], Any], exchange: Any, show: bool) -> list[Any]:
    """Run SCRIPT; print a line per step when `show`; rows of (step, status, exchange uniMMR)."""
    rows = []
    for n, (kind, arg) in enumerate(SCRIPT, 1):
        if kind == "price":
            moved = move(arg)
            note = ""
            line = f"{n:>2}  price BTC → {arg:<32} exchange: {moved['accountStatus']}"
            # the uniMMR the move produced (a liquidation may already have run since)
            rows.append((n, moved["accountStatus"], Decimal(moved["uniMMR"])))
        else:
            side, qty = arg
            try:
                client.papi_create_um_order(symbol="BTCUSDT", side=side, type="MARKET",
                                            quantity=qty, newOrderRespType="RESULT")  # fmt: skip
                verdict, note = "accept", ""
            except Exception as exc:  # BinanceAPIException: the refusal a bot sees
                message = getattr(exc, "message", str(exc))
                verdict, note = "REJECT", f"\n      ↳ {getattr(exc, 'code', '')} {message}"
            h = client.response.headers
            decision = h.get("x-margin-gate-decision", verdict)
            rule = h.get("x-margin-gate-rule", "-").removeprefix("policy.")
            before, after = (
                h.get("x-margin-gate-unimmr-before"),
                h.get("x-margin-gate-unimmr-after"),
            )
            mmr = f"{_fmt(before)} → {_fmt(after)}" if before else ""
            line = (f"{n:>2}  POST /papi/v1/um/order {side:<4} {qty:>3} BTCUSDT  "
                    f"{decision:<7} {rule:<17} {mmr}")  # fmt: skip
            rows.append((n, verdict, Decimal(exchange.uni_mmr_text())))
        if show:
            print(f"{line}   [exchange uniMMR {_fmt(str(rows[-1][2]))}]{note}", flush=True)
        if rows[-1][1] == "FORCE_LIQUIDATION":
            if show:
                print(
                    "      ↳ liquidated: the exchange closes the positions; the script stops here"
                )
            break
    return rows


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("binance") is None:
        print("margin-gate demo needs python-binance: pip install -e '.[demo]' (or scripts/demo)")
        return 2
    import httpx

    from margin_gate.app import create_app
    from margin_gate.audit.reader import Source
    from margin_gate.audit.reader import iter_sources
    from margin_gate.audit.verify import verify
    from margin_gate.paper import create_app as create_paper
    from margin_gate.paper.loader import parse_state
    from margin_gate.settings import parse_settings

    started = time.monotonic()
    audit_dir = Path(args.audit_dir or tempfile.mkdtemp(prefix="margin-gate-demo-"))
    paper_a = create_paper(parse_state(copy.deepcopy(STATE)), control_api=True)
    paper_b = create_paper(parse_state(copy.deepcopy(STATE)), control_api=True)
    with _serving(paper_a) as url_a, _serving(paper_b) as url_b, httpx.Client() as http:
        config = {
            "upstream": {"urls": {p: url_a for p in ("papi", "fapi", "dapi", "api", "sapi")}},
            "accounts": {"main": {"api_key": KEY, "api_secret": {"env": "SECRET"}}},
            "bots": {"demo": {"api_key": BOT_KEY, "secret": {"env": "BOT"}}},
            "profiles": {"default": {"min_unimmr_after": "1.5"}},
            "audit": {"dir": str(audit_dir)},
        }
        settings = parse_settings(
            config, base_dir=Path("."), env={"SECRET": SECRET, "BOT": BOT_SECRET}
        )
        gateway = create_app(settings)
        with _serving(gateway) as gw_url:
            print(f"paper exchange : {url_a}  (10,000 USDT, long 2 BTCUSDT @ 50,000: uniMMR 10)")
            print(f"margin-gate    : {gw_url}  (min_unimmr_after 1.5; audit log in {audit_dir})")
            print("bot            : python-binance Client, unmodified, base URL = margin-gate\n")
            print(HEADER)

            def move_a(price: str) -> Any:
                moved = http.post(
                    f"{url_a}/paper/control/prices", json={"base": "BTC", "price": price}
                ).json()
                assert gateway.risk is not None
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:  # let the gateway see the new mark
                    risk = gateway.risk.gate.store.view("main").risk
                    if risk is not None and risk.mark_price("BTCUSDT") == Decimal(price):
                        break
                    time.sleep(0.01)
                return moved

            with _client(gw_url, BOT_KEY, BOT_SECRET) as client:
                through = _play(client, move_a, paper_a.state.exchange, show=True)
        print("\nthe same script straight to a second paper exchange (no margin-gate):")

        def move_b(price: str) -> Any:
            return http.post(
                f"{url_b}/paper/control/prices", json={"base": "BTC", "price": price}
            ).json()

        with _client(url_b, KEY, SECRET) as client:
            direct = _play(client, move_b, paper_b.state.exchange, show=True)
    lowest = min(u for _, _, u in through)
    liquidated = [n for n, status, _ in direct if status == "FORCE_LIQUIDATION"]
    print("\nresult:")
    print(f"  with margin-gate   : the exchange's uniMMR never went below {lowest:.2f} (> 1.20); "
          f"{sum(1 for _, v, _ in through if v == 'REJECT')} order(s) refused")  # fmt: skip
    if liquidated:
        print(f"  without margin-gate: liquidated at step {liquidated[0]} (FORCE_LIQUIDATION)")
    report = verify(iter_sources([Source(path=audit_dir)]))
    records = sum(1 for f in audit_dir.glob("*.jsonl") for _ in f.open("rb"))
    chain = "intact" if report.ok else "BROKEN"
    print(f"  audit log          : {audit_dir} ({records} records, chain {chain})")
    print(f"                       margin-gate audit verify {audit_dir}")
    print(f"  took {time.monotonic() - started:.1f} s")
    return 0 if report.ok and liquidated and lowest > Decimal("1.2") else 1
