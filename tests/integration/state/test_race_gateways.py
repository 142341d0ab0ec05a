"""The race test with real gateway processes (issue 5): two `margin-gate serve` processes share
one Redis (`[state] backend = "redis"`, same key_prefix) in front of one standalone paper
exchange (`margin-gate paper`). In each seeded round, N bots split across both gateways fire the
same resting BUY at once; each order passes alone, together they would breach the buffer. The
number accepted never exceeds what fits — measured first by sending the orders one by one —
and equals what reached the exchange. Bounded: 3 rounds, 90 s.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from tests.support.servers import free_port
from tests.support.servers import run_cli
from tests.support.timestamps import fresh_ms
from tests.unit.paper import states

pytestmark = [pytest.mark.redis, pytest.mark.slow]
D = Decimal
BOTS = 12
OPERATOR_TOKEN = "race-operator-token-000000"
ROUNDS = 3


def bot_key(i: int) -> tuple[str, str]:
    return f"raceBot{i:02d}Key000000", f"race-bot-{i:02d}-secret"


def write_config(tmp_path: Path, paper_port: int, redis_url: str, prefix: str) -> Path:
    (tmp_path / "paper.json").write_bytes(orjson.dumps(states.simple()))
    (tmp_path / "exchange.secret").write_text(states.SECRET)
    urls = "\n".join(f'{p} = "http://127.0.0.1:{paper_port}"' for p in
                     ("papi", "fapi", "dapi", "api", "sapi"))  # fmt: skip
    bots = ""
    for i in range(BOTS):
        key, secret = bot_key(i)
        (tmp_path / f"bot{i}.secret").write_text(secret)
        bots += f'[bots.b{i}]\napi_key = "{key}"\nsecret = {{ file = "bot{i}.secret" }}\n'
    (tmp_path / "operator.token").write_text(OPERATOR_TOKEN)
    config = tmp_path / "gw.toml"
    config.write_text(f"""
[operator]
token = {{ file = "operator.token" }}
[server]
log_level = "warning"
[upstream]
timeout_s = 5.0
[upstream.urls]
{urls}
[accounts.main]
api_key = "{states.API_KEY}"
api_secret = {{ file = "exchange.secret" }}
{bots}
[state]
backend = "redis"
redis_url = "{redis_url}"
key_prefix = "{prefix}"
ws_ping_interval_s = 0.5
backoff_initial_s = 0.05
backoff_max_s = 0.3
lease_ttl_ms = 1500
""")
    return config


def signed(http: httpx.Client, url: str, i: int, method: str, path: str, **params: str) -> Any:
    key, secret = bot_key(i)
    payload = urlencode({**params, "timestamp": str(fresh_ms())})
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return http.request(method, f"{url}{path}?{payload}&signature={sig}",
                        headers={"X-MBX-APIKEY": key})  # fmt: skip


def order(qty: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": qty, "price": "40000"}  # fmt: skip


@pytest.fixture
def cluster(redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    paper_port, ports = free_port(), [free_port(), free_port()]
    config = write_config(tmp_path, paper_port, redis_url, redis_prefix)
    with ExitStack() as stack:
        stack.enter_context(run_cli(
            ["paper", "--state", str(tmp_path / "paper.json"), "--port", str(paper_port),
             "--control", "--log-level", "warning"],
            port=paper_port, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        for port in ports:
            stack.enter_context(run_cli(
                ["serve", "--config", str(config), "--port", str(port)],
                port=port, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        yield f"http://127.0.0.1:{paper_port}", [f"http://127.0.0.1:{p}" for p in ports]


def settle(http: httpx.Client, gateways: list[str], paper: str) -> None:
    """Cancel every open order and wait until both gateways see a quiet, fresh account."""
    signed(http, gateways[0], 0, "DELETE", "/papi/v1/um/allOpenOrders", symbol="BTCUSDT")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        views = [signed(http, gw, 0, "GET", "/gateway/v1/account").json() for gw in gateways]
        paper_open = http.get(f"{paper}/paper/control/state").json()["openOrders"]
        if not paper_open and all(
            v["stale_reason"] is None and not v["in_flight"] and D(v["unimmr_with_pending"]) == 10
            for v in views
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"account never settled: {views}")


def race(gateways: list[str], qty: str) -> list[int]:
    """Every bot sends the order at once (a barrier), alternating gateways; HTTP statuses."""
    go = threading.Barrier(BOTS)
    answers = [0] * BOTS

    def fire(i: int) -> None:
        with httpx.Client(timeout=10) as own:
            go.wait()
            r = signed(own, gateways[i % 2], i, "POST", "/papi/v1/um/order", **order(qty))
            answers[i] = r.status_code

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(BOTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return answers


def test_two_gateway_processes_never_accept_more_than_fits(
    cluster: tuple[str, list[str]],
) -> None:
    paper, gateways = cluster
    began = time.monotonic()
    summary = []
    with httpx.Client(timeout=10) as http:
        for seed in range(ROUNDS):
            rng = random.Random(seed)
            qty = rng.choice(["1.2", "1.5", "2", "2.5"])
            settle(http, gateways, paper)
            # the oracle: one by one through one gateway until the buffer refuses
            fits = 0
            while fits < BOTS and signed(http, gateways[0], fits, "POST", "/papi/v1/um/order",
                                         **order(qty)).status_code == 200:  # fmt: skip
                fits += 1
            assert 0 < fits < BOTS, (qty, fits)
            settle(http, gateways, paper)
            # the race: every bot at once, alternating gateways
            answers = race(gateways, qty)
            accepted = answers.count(200)
            on_exchange = len(http.get(f"{paper}/paper/control/state").json()["openOrders"])
            summary.append((seed, qty, fits, accepted, on_exchange))
            # Assert
            assert set(answers) <= {200, 400}, answers
            assert accepted <= fits, summary[-1]
            assert on_exchange == accepted, summary[-1]
        settle(http, gateways, paper)
    assert time.monotonic() - began < 90
    print("race rounds (seed, qty, fits, accepted, on exchange):", summary)


def test_replicas_when_replayed_or_halted_on_one_then_the_other_refuses(
    cluster: tuple[str, list[str]],
) -> None:
    _, (a, b) = cluster
    key, secret = bot_key(0)
    payload = urlencode({"timestamp": str(int(time.time() * 1000))})
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    target = f"/papi/v1/account?{payload}&signature={sig}"
    with httpx.Client(timeout=10) as http:
        # Act: the same signed request on both replicas
        first = http.get(a + target, headers={"X-MBX-APIKEY": key})
        replayed = http.get(b + target, headers={"X-MBX-APIKEY": key})
        # Act: halt on A, order on B
        auth = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        halted = http.post(f"{a}/operator/v1/halt", json={"bot": "b1"}, headers=auth)
        time.sleep(0.5)  # > the halts refresh (0.2 s)
        on_b = signed(http, b, 1, "POST", "/papi/v1/um/order", **order("0.1"))
        listed = http.get(f"{b}/operator/v1/halts", headers=auth).json()
        http.post(f"{b}/operator/v1/resume", json={"bot": "b1"}, headers=auth)
        time.sleep(0.5)
        resumed_on_a = signed(http, a, 1, "POST", "/papi/v1/um/order", **order("0.1"))
    # Assert
    assert first.status_code == 200, first.text
    assert (replayed.status_code, replayed.json()["code"]) == (400, -1021)
    assert "replayed request" in replayed.json()["msg"]
    assert halted.status_code == 200
    assert (on_b.status_code, on_b.json()["code"]) == (400, -4088)
    assert [h["name"] for h in listed["halts"]] == ["b1"]
    assert resumed_on_a.status_code == 200, resumed_on_a.text


def test_replicas_when_an_order_is_replayed_on_the_other_then_refused_and_unreserved(
    cluster: tuple[str, list[str]],
) -> None:
    # The order path answers the replay check after its reservation's round trip (one
    # round trip per order instead of two): the replay must still be refused, its
    # reservation released, and only the first order reach the exchange.
    paper, (a, b) = cluster
    key, secret = bot_key(2)
    payload = urlencode({**order("0.1"), "timestamp": str(fresh_ms())})
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    target = f"/papi/v1/um/order?{payload}&signature={sig}"
    with httpx.Client(timeout=10) as http:
        # Act: the same signed order on A, then on B, then on A again
        first = http.post(a + target, headers={"X-MBX-APIKEY": key})
        on_b = http.post(b + target, headers={"X-MBX-APIKEY": key})
        on_a = http.post(a + target, headers={"X-MBX-APIKEY": key})
        opened = http.get(f"{paper}/paper/control/state").json()["openOrders"]
        views = [signed(http, gw, 0, "GET", "/gateway/v1/account").json() for gw in (a, b)]
        settle(http, [a, b], paper)
    # Assert
    assert first.status_code == 200, first.text
    for replayed in (on_b, on_a):
        assert (replayed.status_code, replayed.json()["code"]) == (400, -1021), replayed.text
        assert "replayed request" in replayed.json()["msg"]
        assert replayed.headers["x-margin-gate-rule"] == "auth.replay"
    assert len(opened) == 1, opened
    for view in views:  # only the accepted order is in flight or open, never the replays
        assert len(view.get("in_flight", ())) <= 1, view
        assert view["stale_reason"] is None, view
