"""Recompile contracts/*.sol with the pinned solc-js and rewrite contracts/artifacts/*.json.

Run after editing a contract: `.venv/bin/python scripts/compile_contracts.py`.
tests/adapters/chain/test_artifacts.py fails while the committed artifacts differ from the sources.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ghostproof.adapters.chain.compile import ARTIFACTS_DIR, compile_contracts, write_artifacts


def main() -> None:
    """Compile and write the artifacts; print one line per contract."""
    artifacts = compile_contracts()
    write_artifacts(artifacts)
    for name, artifact in sorted(artifacts.items()):
        size = (len(str(artifact["deployedBytecode"])) - 2) // 2
        print(f"{name}: {size} bytes of runtime code -> {ARTIFACTS_DIR / (name + '.json')}")


if __name__ == "__main__":
    main()
