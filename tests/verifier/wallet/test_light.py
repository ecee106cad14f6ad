"""The wallet is the verifier role: it imports and runs with none of the prover extra's
packages (torch, hnswlib, scikit-learn, FastAPI, uvicorn, eth-tester, py-evm)."""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import importlib.abc, sys
BLOCK = {"torch", "hnswlib", "sklearn", "fastapi", "uvicorn", "eth_tester", "eth", "prometheus_client"}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCK:
            raise ImportError("not in the light install: " + name)
sys.meta_path.insert(0, Blocker())
"""


def test_wallet_needs_only_the_light_install() -> None:
    script = BLOCKER + """
from ghostproof.verifier.wallet import Wallet, client, credits, node, archive, ledger
from ghostproof.cli.main import main
for argv in (["query", "--help"], ["credits", "deposit", "--help"], ["wallet", "new", "--help"]):
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print("light ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "light ok" in done.stdout
