"""Run the gateway for the benchmark: one uvicorn worker (uvloop + httptools) with a chosen
upstream client. Usage: python bench/_gateway.py PORT UPSTREAM_URL CLIENT"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _clients import make_upstream
from _load import ENV
from _load import bench_config
from margin_gate.app import create_app
from margin_gate.proxy.gate import AcceptAll
from margin_gate.proxy.gate import NullObserver
from margin_gate.settings import parse_settings


def main() -> None:
    port, upstream_url, client = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    settings = parse_settings(bench_config(upstream_url), base_dir=Path("."), env=ENV)
    # The forwarding layer alone: create_app's default hook is now the RiskGate (state, audit).
    app = create_app(
        settings, hook=AcceptAll(), observer=NullObserver(), upstream=make_upstream(client)
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
