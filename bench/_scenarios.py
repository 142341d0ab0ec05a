"""What run_all measures and how each server under test is started.

Shared services (started once, pinned to the "other" CPU): the paper exchange, the upstream
nginx (stub + router, bench/_nginx.py), the proxy nginx under test, and Redis. Per row a
server under test is measured pinned to CPU 0: the paper exchange or the stub themselves
(direct), the proxy nginx, or a margin-gate process started for the row (`margin-gate serve
--config <generated>` under uvicorn, or granian with the same app factory).
"""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal

import orjson

from _fixtures import BOT_SECRET
from _fixtures import ORDER_HEAD
from _fixtures import ORDER_PATH
from _fixtures import REPO
from _fixtures import bench_paper_state
from _fixtures import bot_key
from _fixtures import gateway_config
from _fixtures import signed_orders
from _fixtures import signed_query
from _fixtures import write_toml
from _nginx import nginx_cmd
from _nginx import proxy_conf
from _nginx import upstream_conf
from _proc import Service
from _proc import cpu_count
from _proc import cpu_seconds
from _proc import free_port
from _proc import peak_rss_mb
from _wrk import run_wrk
from _wrk import write_lua

Kind = Literal["direct", "nginx", "gateway"]
Upstream = Literal["paper", "stub"]


@dataclass(frozen=True)
class Target:
    id: str
    label: str
    kind: Kind
    upstream: Upstream
    enforce: bool = False  # gateway: the order path (RiskGate) vs pass-through
    store: str = "memory"
    server: str = "uvicorn"
    workers: int = 1
    max_rps: int = 16_000  # sizes the request files: a run past it would replay signatures
    unique: bool = True  # False: the stub does not care, lines may repeat


MAIN_TARGETS: tuple[Target, ...] = (
    Target("direct/paper", "paper exchange, direct", "direct", "paper"),
    Target("nginx/paper", "nginx reverse proxy → paper", "nginx", "paper"),
    Target("pass/paper", "margin-gate pass-through → paper", "gateway", "paper"),
    Target("order-mem/paper", "margin-gate order path, memory → paper", "gateway", "paper", True),
    Target(
        "order-redis/paper",
        "margin-gate order path, Redis → paper",
        "gateway",
        "paper",
        True,
        "redis",
    ),
    Target("direct/stub", "stub (nginx return 200), direct", "direct", "stub", unique=False),
    Target("nginx/stub", "nginx reverse proxy → stub", "nginx", "stub", unique=False),
    Target("pass/stub", "margin-gate pass-through → stub", "gateway", "stub"),
    Target("order-mem/stub", "margin-gate order path, memory → stub", "gateway", "stub", True),
    Target(
        "order-redis/stub",
        "margin-gate order path, Redis → stub",
        "gateway",
        "stub",
        True,
        "redis",
    ),
    Target(
        "pass/stub/granian",
        "margin-gate pass-through → stub [granian]",
        "gateway",
        "stub",
        server="granian",
    ),
    Target(
        "order-mem/stub/granian",
        "margin-gate order path, memory → stub [granian]",
        "gateway",
        "stub",
        True,
        server="granian",
    ),
)
WORKER_TARGETS: tuple[Target, ...] = (
    Target("pass/stub/w1", "pass-through → stub, 1 worker", "gateway", "stub", max_rps=30_000),
    Target(
        "pass/stub/w2",
        "pass-through → stub, 2 workers",
        "gateway",
        "stub",
        workers=2,
        max_rps=30_000,
    ),
    Target(
        "order-redis/stub/w1",
        "order path, Redis → stub, 1 worker",
        "gateway",
        "stub",
        True,
        "redis",
        max_rps=30_000,
    ),
    Target(
        "order-redis/stub/w2",
        "order path, Redis → stub, 2 workers",
        "gateway",
        "stub",
        True,
        "redis",
        workers=2,
        max_rps=30_000,
    ),
)


@dataclass
class Probe:
    """A few sequential orders sent before measuring: is the risk hook active, are orders
    accepted (an order path that refuses everything would be a benchmark of rejections)."""

    statuses: list[int] = field(default_factory=list)
    decisions: list[str | None] = field(default_factory=list)
    sample: str = ""
    ready: str = ""

    @property
    def hook_active(self) -> bool:
        return any(d is not None for d in self.decisions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "statuses": self.statuses,
            "decisions": self.decisions,
            "hook_active": self.hook_active,
            "sample": self.sample[:300],
            "ready": self.ready,
        }


class Bench:
    """The shared services, the CPU plan, and how to run one measurement."""

    def __init__(self, workdir: Path, *, warm_s: float, seconds: float, log: Any) -> None:
        self.workdir = workdir
        self.warm_s, self.seconds = warm_s, seconds
        self.log = log
        two = cpu_count() >= 2
        self.server_cpus: set[int] | None = {0} if two else None
        self.other_cpus: set[int] | None = {1} if two else None
        self.all_cpus: set[int] | None = {0, 1} if two else None
        self.lua = write_lua(workdir)
        self.services: list[Service] = []
        self.keys = bench_paper_state(workdir / "paper-state.json")

    # -- shared services --

    def start(self, *, redis: bool) -> None:
        w = self.workdir
        self.paper_port = free_port()
        self.paper = self._service(
            "paper",
            [sys.executable, "-m", "margin_gate", "paper", "--state", str(w / "paper-state.json"),
             "--port", str(self.paper_port), "--log-level", "warning"],
            self.paper_port,
        )  # fmt: skip
        up_dir, proxy_dir = w / "nginx-up", w / "nginx-proxy"
        up_dir.mkdir(exist_ok=True)
        proxy_dir.mkdir(exist_ok=True)
        self.stub_port, self.router_port = free_port(), free_port()
        conf = upstream_conf(
            up_dir, stub_port=self.stub_port, router_port=self.router_port,
            paper_port=self.paper_port,
        )  # fmt: skip
        self.upstream = self._service("nginx-upstream", nginx_cmd(conf, up_dir), self.stub_port)
        self.proxy_paper_port, self.proxy_stub_port = free_port(), free_port()
        conf = proxy_conf(
            proxy_dir,
            listeners={
                self.proxy_paper_port: self.paper_port,
                self.proxy_stub_port: self.stub_port,
            },
        )
        self.proxy = self._service("nginx-proxy", nginx_cmd(conf, proxy_dir), self.proxy_paper_port)
        self.redis_url: str | None = None
        if redis:
            port = free_port()
            self.redis = self._service(
                "redis",
                ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                 "--appendonly", "no"],
                port,
            )  # fmt: skip
            self.redis_url = f"redis://127.0.0.1:{port}/0"

    def _service(self, name: str, cmd: list[str], port: int) -> Service:
        service = Service(
            name, cmd, port=port, cwd=REPO, log=self.workdir / f"{name}.log", cpus=self.other_cpus
        )
        self.services.append(service)
        return service

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def repin(self, cpus: set[int] | None) -> None:
        for service in self.services:
            service.pin(cpus)

    def flush_redis(self) -> None:
        if self.redis_url is None:
            return
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushall()
        finally:
            client.close()

    # -- servers under test --

    @contextlib.contextmanager
    def server(self, t: Target, tag: str, *, cpus: set[int] | None) -> Iterator[_Server]:
        """The running server under test for `t`, pinned to `cpus`."""
        if t.kind == "direct":
            service = self.paper if t.upstream == "paper" else self.upstream
            port = self.paper_port if t.upstream == "paper" else self.stub_port
            service.pin(cpus)
            try:
                yield _Server(f"http://127.0.0.1:{port}", service, self._direct_key(t))
            finally:
                service.pin(self.other_cpus)
            return
        if t.kind == "nginx":
            port = self.proxy_paper_port if t.upstream == "paper" else self.proxy_stub_port
            self.proxy.pin(cpus)
            try:
                yield _Server(f"http://127.0.0.1:{port}", self.proxy, self._direct_key(t))
            finally:
                self.proxy.pin(self.other_cpus)
            return
        service = self._gateway(t, tag, cpus)
        try:
            yield _Server(f"http://127.0.0.1:{service.port}", service, (bot_key(), BOT_SECRET))
        finally:
            code = service.stop()
            if code not in (0, -15, None):
                self.log(f"  ! {t.id}: gateway exited with {code}")

    def _direct_key(self, t: Target) -> tuple[str, str]:
        if t.upstream == "paper":
            k = self.keys["bot-direct"]
            return k["api_key"], k["secret"]
        return bot_key(), BOT_SECRET

    def upstream_url(self, t: Target) -> str:
        if t.upstream == "paper":
            return f"http://127.0.0.1:{self.paper_port}"
        port = self.router_port if t.enforce else self.stub_port
        return f"http://127.0.0.1:{port}"

    def _gateway(self, t: Target, tag: str, cpus: set[int] | None) -> Service:
        if t.store == "redis":
            self.flush_redis()
        port = free_port()
        k = self.keys["gateway-upstream"]
        config, env = gateway_config(
            port=port,
            upstream_url=self.upstream_url(t),
            workdir=self.workdir / tag,
            enforce=t.enforce,
            store=t.store,
            redis_url=self.redis_url,
            workers=t.workers if t.server == "uvicorn" else 1,
            account_key=(k["api_key"], k["secret"]),
        )
        path = write_toml(self.workdir / f"{tag}.toml", config)
        if t.server == "granian":
            cmd = [
                sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(t.workers),
                "--loop", "uvloop", "--http", "1", "--no-ws", "--log-level", "warning",
                "--no-access-log", "margin_gate.cli.serve:app_factory",
            ]  # fmt: skip
            env["MARGIN_GATE_CONFIG"] = str(path)
        else:
            cmd = [sys.executable, "-m", "margin_gate", "serve", "--config", str(path)]
        return Service(
            t.id, cmd, port=port, env=env, cwd=REPO, log=self.workdir / f"{tag}.log", cpus=cpus
        )

    # -- measuring --

    def probe(self, server: _Server, t: Target, tag: str) -> Probe:
        probe = Probe(ready=self._wait_ready(server.url))
        key, secret = server.key
        for i in range(3):
            query = signed_query(secret, f"{ORDER_HEAD}&newClientOrderId={tag}-p{i}")
            status, headers, body = _post(server.url + ORDER_PATH, key, query)
            probe.statuses.append(status)
            probe.decisions.append(headers.get("x-margin-gate-decision"))
            if status >= 400 and not probe.sample:
                probe.sample = body.decode("utf-8", "replace")
        return probe

    def _wait_ready(self, url: str, timeout: float = 30.0) -> str:
        """Poll /readyz while it answers 503; any other answer (404 before the ops endpoints
        are mounted) ends the wait. Returns what it saw."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                    return f"{r.status}"
            except urllib.error.HTTPError as e:
                if e.code != 503 or time.monotonic() > deadline:
                    return f"{e.code}"
            except OSError as e:
                if time.monotonic() > deadline:
                    return f"error: {e}"
            time.sleep(0.2)

    def measure(
        self, server: _Server, t: Target, conns: int, tag: str, *, wrk_cpus: set[int] | None
    ) -> dict[str, float]:
        key, secret = server.key
        per_second = t.max_rps if t.unique else 2_000
        warm = self.workdir / f"{tag}-warm.txt"
        main = self.workdir / f"{tag}.txt"
        signed_orders(warm, int(max(self.warm_s, 1) * per_second), f"{tag}w", secret)
        signed_orders(main, int(self.seconds * per_second), tag, secret)
        count = t.kind == "gateway" and t.enforce
        kw: dict[str, Any] = {"key": key, "lua": self.lua, "cpus": wrk_cpus}
        run_wrk(server.url, ORDER_PATH, conns=conns, seconds=self.warm_s, requests=warm, **kw)
        pids = server.service.pids()
        before = cpu_seconds(pids)
        result = run_wrk(
            server.url, ORDER_PATH, conns=conns, seconds=self.seconds, requests=main,
            count_decisions=count, **kw,
        )  # fmt: skip
        spent = cpu_seconds(pids) - before
        result["cpu_s_per_1k"] = spent / max(result["requests"], 1) * 1000
        rss = [peak_rss_mb(p) for p in server.service.pids()]
        result["peak_rss_mb"] = max(rss, default=0.0)
        result["peak_rss_total_mb"] = sum(rss)
        result["processes"] = float(len(rss))
        warm.unlink()
        main.unlink()
        return result


@dataclass
class _Server:
    url: str
    service: Service
    key: tuple[str, str]


def _post(url: str, key: str, body: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def load_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())
