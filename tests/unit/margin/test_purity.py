"""The margin engine does no I/O: no network, clock, filesystem, env or logging (STYLE §2.2)."""

from __future__ import annotations

import ast
from pathlib import Path

import margin_gate.margin

PACKAGE = Path(margin_gate.margin.__file__).parent
BANNED_MODULES = {
    "aiohttp",
    "asyncio",
    "datetime",
    "http",
    "httpx",
    "io",
    "logging",
    "os",
    "pathlib",
    "random",
    "redis",
    "requests",
    "secrets",
    "shutil",
    "signal",
    "socket",
    "starlette",
    "subprocess",
    "sys",
    "tempfile",
    "threading",
    "time",
    "urllib",
    "uvicorn",
    "warnings",
}
BANNED_CALLS = {"open", "print", "input", "exec", "eval", "compile", "__import__", "breakpoint"}


def modules() -> list[Path]:
    found = sorted(PACKAGE.glob("*.py"))
    assert len(found) > 10
    return found


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in BANNED_CALLS:
                out.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
            continue
        else:
            continue
        out += [
            f"{path.name}:{node.lineno} imports {n}"
            for n in names
            if n.split(".")[0] in BANNED_MODULES
        ]
    return out


def test_no_module_in_margin_does_io() -> None:
    assert [v for p in modules() for v in violations(p)] == []


def test_the_checker_catches_what_it_bans(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom asyncio import sleep\nimport time as t\nopen('x')\nprint(1)\n")
    assert len(violations(bad)) == 5
