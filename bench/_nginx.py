"""nginx for the benchmark (Debian's nginx, one worker each):

- the **upstream** nginx: `stub` answers every request with a 406-byte order ack (the anchors'
  fast upstream, never the bottleneck); `router` answers the order-entry paths with an exchange
  refusal (`400 {"code":-2010}`, so the gateway releases each reservation at once) and proxies
  everything else — REST and the user/market WebSocket streams — to the paper exchange, so the
  gateway's live state is real while orders cost the upstream nothing;
- the **proxy** nginx under test: a plain reverse proxy with a keep-alive upstream, one
  listener in front of the paper exchange and one in front of the stub.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from _load import NGINX_HEAD
from _load import ORDER_ACK

REFUSAL = b'{"code":-2010,"msg":"bench stub: order refused by the exchange"}'
ORDER_PATHS = ("/papi/v1/um/order", "/fapi/v1/order")

_HEAD = (
    NGINX_HEAD
    + """  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
"""
)

_PROXY_LOCATION = """
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 3600s;
      proxy_buffering off;
    }}
"""


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def upstream_conf(workdir: Path, *, stub_port: int, router_port: int, paper_port: int) -> Path:
    ack = ORDER_ACK.decode()
    refusal = REFUSAL.decode()
    orders = "".join(
        f"    location = {p} {{ default_type application/json; return 400 '{refusal}'; }}\n"
        for p in ORDER_PATHS
    )
    text = _HEAD.format(dir=workdir) + (
        f"  upstream paper {{ server 127.0.0.1:{paper_port}; keepalive 64; }}\n"
        f"  server {{\n    listen 127.0.0.1:{stub_port};\n"
        "    location / {\n      default_type application/json;\n"
        "      add_header X-MBX-USED-WEIGHT-1M 1;\n"
        f"      return 200 '{ack}';\n    }}\n  }}\n"
        f"  server {{\n    listen 127.0.0.1:{router_port};\n{orders}"
        + _PROXY_LOCATION.format(upstream="paper")
        + "  }\n}\n"
    )
    path = workdir / "nginx-upstream.conf"
    path.write_text(text)
    return path


def proxy_conf(workdir: Path, *, listeners: dict[int, int]) -> Path:
    """One reverse-proxy server block per (listen port -> upstream port)."""
    parts = [_HEAD.format(dir=workdir)]
    for i, (listen, target) in enumerate(sorted(listeners.items())):
        parts.append(f"  upstream u{i} {{ server 127.0.0.1:{target}; keepalive 64; }}\n")
        parts.append(f"  server {{\n    listen 127.0.0.1:{listen};\n")
        parts.append(_PROXY_LOCATION.format(upstream=f"u{i}"))
        parts.append("  }\n")
    parts.append("}\n")
    path = workdir / "nginx-proxy.conf"
    path.write_text("".join(parts))
    return path


def nginx_cmd(conf: Path, workdir: Path) -> list[str]:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx")
    return [binary, "-c", str(conf), "-p", str(workdir)]


def nginx_version() -> str:
    import subprocess

    binary = nginx_binary()
    if binary is None:
        return "missing"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).strip().removeprefix("nginx version: ")
