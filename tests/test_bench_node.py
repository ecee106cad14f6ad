"""scripts/bench_node.py at a tiny size (N = 2000, half-second phases), so that the node
benchmark cannot rot: it must start Anvil and ``ghostproof serve``, pay, flood, stop, and
write its markdown tables. The figures themselves are docs/BENCH.md's business."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.anvil
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_node.py"


def _row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{markdown}")


def test_bench_node_runs_at_a_tiny_size(tmp_path: Path):
    out = tmp_path / "node.md"
    args = [sys.executable, str(SCRIPT), "--n", "2000", "--duration", "0.5", "--clients", "1",
            "--flood-clients", "1", "--prove-queries", "10", "--cache", str(tmp_path), "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    md = out.read_text()
    for heading in ("### Paying clients", "### What the node adds", "### Flood"):
        assert heading in md
    assert int(_row(md, "1")[1].replace(",", "")) > 0  # paid queries
    assert _row(md, "1")[5] == "0"  # no paying query refused
    assert "the node adds" in md
    for flood in ("unpaid", "forged"):
        cells = _row(md, flood)
        assert int(cells[2].replace(",", "")) > 0  # flood requests sent
        assert cells[6] == "0.0%"  # every flood request answered 402 or 429
    assert "exit 0" in md  # the node stopped cleanly (and redeemed)
