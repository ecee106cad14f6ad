"""Measure gas on the embedded chain and on Anvil; write docs/gas.md.

Run: `.venv/bin/python scripts/gas_report.py`. The same measurement runs in
tests/adapters/chain/test_gas.py, which checks the targets.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ghostproof.adapters.chain.accounts import dev_account, fund_from_tester  # noqa: E402
from ghostproof.adapters.chain.anvil import Anvil  # noqa: E402
from ghostproof.adapters.chain.compile import SOLC_VERSION  # noqa: E402
from ghostproof.adapters.chain.gas import gas_table, measure_gas  # noqa: E402
from ghostproof.adapters.chain.provider import connect, embedded_chain  # noqa: E402

OUT = ROOT / "docs" / "gas.md"


def main() -> None:
    """Measure on both chains and write the report."""
    embedded = embedded_chain()
    owner = dev_account(embedded, 0)
    fund_from_tester(embedded, owner.address, 10**23)
    columns = {"embedded (py-evm)": measure_gas(embedded, owner)}
    with Anvil() as node:
        chain = connect(node.url)
        columns["Anvil 1.7.1"] = measure_gas(chain, dev_account(chain, 0))
    text = (
        "# Gas report\n\n"
        f"Written by scripts/gas_report.py (solc {SOLC_VERSION}, optimizer 200 runs, cancun). "
        "Gas used per transaction, base cost included; views are what eth_estimateGas "
        "reports for calling them in a transaction. First-time steps pay for zero-to-nonzero "
        "storage writes (a registry's or prover's first credit balance).\n\n"
        + gas_table(columns)
    )
    OUT.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
