"""`margin-gate demo` runs end to end, well under a minute, and shows what the README says."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.support.servers import REPO


def test_demo_when_run_then_refusal_survival_liquidation_and_audit_shown() -> None:
    # Act
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "margin_gate", "demo"],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    out = done.stdout
    # Assert
    assert done.returncode == 0, out + done.stderr
    assert took < 60
    assert "reject  min_unimmr_after" in out
    assert "-2019 Margin is insufficient. margin-gate: projected uniMMR" in out
    assert "accept  risk_reducing" in out
    assert "without margin-gate: liquidated at step 5 (FORCE_LIQUIDATION)" in out
    assert "chain intact" in out
    assert "margin-gate audit verify" in out
