"""torch is optional: only prover/hopfield.py imports it at top level."""

from __future__ import annotations

import subprocess
import sys


def test_prover_modules_do_not_import_torch_eagerly() -> None:
    code = (
        "import sys\n"
        "import ghostproof.prover.index, ghostproof.prover.order, ghostproof.prover.synthetic\n"
        "import ghostproof.prover.treebuild\n"
        "sys.exit(1 if 'torch' in sys.modules else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr or "torch was imported"
