"""wrk runs for run_all: replay a file of distinct signed orders (one per line) with a Lua
script, optionally counting the gateway's decision header, on a chosen CPU set."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from _load import _ms

# args: requests file, X-MBX-APIKEY, path. The counting variant defines `response` (wrk then
# hands every answer's headers to Lua, which costs wrk CPU; used for the gateway's order rows).
LUA = """
local lines, idx, key, path = {}, 0, nil, nil
accepted, rejected, undecided = 0, 0, 0
init = function(args)
  key, path = args[2], args[3]
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
end
request = function()
  idx = idx + 1
  if idx > #lines then idx = 1 end
  return wrk.format("POST", path, {["X-MBX-APIKEY"] = key,
    ["Content-Type"] = "application/x-www-form-urlencoded"}, lines[idx])
end
--COUNT--response = function(status, headers, body)
  local d = headers["x-margin-gate-decision"] or headers["X-Margin-Gate-Decision"]
  if d == nil then undecided = undecided + 1
  elseif d == "reject" then rejected = rejected + 1
  else accepted = accepted + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local a, r, u = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); r = r + t:get("rejected"); u = u + t:get("undecided")
  end
  io.write(string.format("decisions accepted=%d rejected=%d undecided=%d\\n", a, r, u))
end
"""


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def write_lua(workdir: Path) -> tuple[Path, Path]:
    """(plain, counting) Lua scripts."""
    plain, counting = workdir / "orders.lua", workdir / "orders-count.lua"
    lines = LUA.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("--COUNT--"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("end"))
    plain.write_text("".join(lines[:start] + lines[end + 1 :]))
    counting.write_text(LUA.replace("--COUNT--", ""))
    return plain, counting


def wrk_version() -> str:
    binary = wrk_binary()
    if binary is None:
        return "missing"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def run_wrk(
    url: str,
    path: str,
    *,
    conns: int,
    seconds: float,
    requests: Path,
    key: str,
    lua: tuple[Path, Path],
    count_decisions: bool = False,
    cpus: set[int] | None = None,
) -> dict[str, float]:
    """One wrk -t1 run; p50/p99 in ms, rps, totals, non-2xx and (optionally) decisions."""
    cmd = [
        "wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency",
        "--timeout", "10s", "-s", str(lua[1] if count_decisions else lua[0]), url + path,
        "--", str(requests), key, path,
    ]  # fmt: skip
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    out = proc.stdout
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr}\n{out}")
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not (p50 and p99 and rps and total):
        raise RuntimeError(f"unexpected wrk output:\n{out}\n{proc.stderr}")
    result = {
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "rps": float(rps.group(1)),
        "requests": float(total.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": float(sum(int(g) for g in errors.groups())) if errors else 0.0,
    }
    decisions = re.search(r"decisions accepted=(\d+) rejected=(\d+) undecided=(\d+)", out)
    if count_decisions and decisions:
        result["accepted"] = float(decisions.group(1))
        result["rejected"] = float(decisions.group(2))
        result["undecided"] = float(decisions.group(3))
    return result
