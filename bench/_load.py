"""Benchmark helpers: keys and config, signed-request generation, nginx, and wrk runs.

Signed requests must be unique (the gateway refuses a replayed signature), so each wrk run
replays a freshly generated file of distinct signed bodies (recvWindow 60000) via a Lua script.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

BOT_KEY = "benchBotKey0123456789abcdefABCDEF0123456789abcdefABCDEF012345"
BOT_SECRET = "benchBotSecret0123456789abcdefABCDEF0123456789abcdefABCDEF0123"
ENV = {
    "MG_BENCH_EXCH_KEY": "benchExchKey0123456789abcdefABCDEF0123456789abcdefABCDEF0123",
    "MG_BENCH_EXCH_SECRET": "benchExchSecret0123456789abcdefABCDEF0123456789abcdefABCDEF01",
    "MG_BENCH_BOT_KEY": BOT_KEY,
    "MG_BENCH_BOT_SECRET": BOT_SECRET,
}
PATH = "/fapi/v1/order"
# A 406-byte order ack, like ../shared/performance.md's upstream answer.
ORDER_ACK = (
    b'{"clientOrderId":"bench","cumQty":"0","cumQuote":"0","executedQty":"0","orderId":22542179,'
    b'"avgPrice":"0.00000","origQty":"0.001","price":"30000","reduceOnly":false,"side":"BUY",'
    b'"positionSide":"BOTH","status":"NEW","closePosition":false,'
    b'"symbol":"BTCUSDT","timeInForce":"GTC","type":"LIMIT","origType":"LIMIT",'
    b'"updateTime":1566818724722,"workingType":"CONTRACT_PRICE","priceProtect":false,'
    b'"goodTillDate":0}'
)


def bench_config(upstream_url: str) -> dict[str, Any]:
    return {
        "upstream": {"urls": {p: upstream_url for p in ("papi", "fapi", "dapi", "api", "sapi")}},
        "accounts": {
            "main": {
                "api_key": {"env": "MG_BENCH_EXCH_KEY"},
                "api_secret": {"env": "MG_BENCH_EXCH_SECRET"},
            }
        },
        "bots": {
            "bench": {
                "api_key": {"env": "MG_BENCH_BOT_KEY"},
                "secret": {"env": "MG_BENCH_BOT_SECRET"},
            }
        },
        "server": {"log_level": "warning"},
    }


def generate(path: Path, count: int, tag: str) -> None:
    """`count` distinct signed order bodies, one per line (≈230 bytes each)."""
    secret = BOT_SECRET.encode()
    ts = int(time.time() * 1000)
    head = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000"
    lines = []
    for i in range(count):
        payload = f"{head}&newClientOrderId={tag}-{i:07d}&recvWindow=60000&timestamp={ts}"
        sig = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
        lines.append(f"{payload}&signature={sig}\n")
    path.write_text("".join(lines))


WRK_LUA = """
local lines, idx = {}, 0
local key = nil
init = function(args)
  key = args[2]
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
end
request = function()
  idx = idx + 1
  if idx > #lines then idx = 1 end
  return wrk.format("POST", "PATH", {["X-MBX-APIKEY"] = key,
    ["Content-Type"] = "application/x-www-form-urlencoded"}, lines[idx])
end
""".replace("PATH", PATH)

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, conns: int, seconds: float, requests: Path, lua: Path) -> dict[str, float]:
    cmd = [
        "wrk", "-t1", f"-c{conns}", f"-d{round(seconds)}s", "--latency", "-s", str(lua),
        url, "--", str(requests), BOT_KEY,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not (p50 and p99 and rps and total):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return {
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "rps": float(rps.group(1)),
        "requests": float(total.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
    }


# One nginx worker, its files under {dir}, long keep-alive; the http block stays open.
NGINX_HEAD = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
"""

NGINX_CONF = (
    NGINX_HEAD
    + """  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      add_header X-MBX-USED-WEIGHT-1M 1;
      return 200 '{body}';
    }}
  }}
}}
"""
)


def start_upstream(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """nginx `return 200` when installed (Debian: apt-get install nginx), else _upstream.py."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        conf = workdir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=workdir, port=port, body=ORDER_ACK.decode()))
        proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(workdir)])
        return proc, "nginx 1 worker, return 200"
    import sys

    here = Path(__file__).resolve().parent
    proc = subprocess.Popen([sys.executable, str(here / "_upstream.py"), str(port)], cwd=here)
    return proc, "raw uvloop responder (bench/_upstream.py)"
