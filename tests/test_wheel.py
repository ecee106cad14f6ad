"""The wheel as a user gets it (scripts/check_wheel.py): one import name with the contract
artifacts inside; a light install that verifies the committed example and has no torch; a
prover install that runs the demo. Fresh venvs outside the checkout, installs from the index."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_wheel.py"
BUDGET_S = 420


@pytest.mark.slow
@pytest.mark.timeout(BUDGET_S + 60)
def test_wheel_light_and_prover_installs() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--budget", str(BUDGET_S)],
        capture_output=True, text=True, timeout=BUDGET_S + 30, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check_wheel: OK" in proc.stdout
