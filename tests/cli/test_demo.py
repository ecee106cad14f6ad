"""`ghostproof demo` end to end, as a new user runs it: a real subprocess, real embedded chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from ghostproof.cli.main import main; main()", "demo", "--dir",
         str(tmp_path), "--samples", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "3/3" in out  # answers proved and verified
    assert "rejected: layer 0 matrix K" in out
    assert "audit layer 0 K: OK" in out and "audit layer 0 V: OK" in out
    assert (tmp_path / "digits" / "ghost.json").exists()
    assert (tmp_path / "fetched" / "ghost.json").read_bytes() == (
        tmp_path / "digits" / "ghost.json"
    ).read_bytes()


def test_invalid_demo_without_samples_exits_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from ghostproof.cli.main import main; main()", "demo", "--dir",
         str(tmp_path), "--samples", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
