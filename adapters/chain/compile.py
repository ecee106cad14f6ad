"""Compile contracts/*.sol with the pinned solc-js (npm ``solc``) through node: a developer task.

Used by scripts/compile_contracts.py (writes contracts/artifacts/) and by the test that
recompiles and compares. The compiler is the one in the checkout's node_modules/, driven by
contracts/solc_driver.js with standard-JSON on stdin; no binary is downloaded. Compiling
needs a ghostproof checkout (``make install``); an installed ghostproof ships the compiled
artifacts as package data and reads them through adapters/chain/contracts.py instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ghostproof.protocol.errors import CompileError

from .contracts import DEPLOYABLE

# Where this file lies in a checkout (adapters/chain/compile.py); in an installed wheel the
# same parents are site-packages/ghostproof, which has no solc driver (checkout_root: None).
_CANDIDATE_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = _CANDIDATE_ROOT / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
DRIVER = CONTRACTS_DIR / "solc_driver.js"
SOLC_VERSION = "0.8.30+commit.73712a01"
SETTINGS: dict[str, object] = {
    "evmVersion": "cancun",
    "optimizer": {"enabled": True, "runs": 200},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
    },
}
NOT_A_CHECKOUT = (
    "compiling the contracts needs a ghostproof checkout with its npm install "
    "(git clone, then `make contracts`); an installed ghostproof ships the compiled artifacts"
)


def checkout_root() -> Path | None:
    """The root of the ghostproof checkout this code runs from (where package.json and
    contracts/solc_driver.js are), or None when it runs from an installed package."""
    if (_CANDIDATE_ROOT / "package.json").is_file() and DRIVER.is_file():
        return _CANDIDATE_ROOT
    return None


def standard_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, object]:
    """The solc standard-JSON input for every ``*.sol`` in ``contracts_dir``."""
    sources = {
        path.name: {"content": path.read_text(encoding="utf-8")}
        for path in sorted(contracts_dir.glob("*.sol"))
    }
    if not sources:
        raise CompileError(f"no Solidity sources in {contracts_dir}")
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def _run_driver(payload: str, env_extra: dict[str, str] | None = None) -> str:
    root = checkout_root()
    if root is None:
        raise CompileError(NOT_A_CHECKOUT)
    node = shutil.which("node")
    if node is None:
        raise CompileError("node is not on PATH (needed to run solc-js)")
    if not (root / "node_modules" / "solc").is_dir():
        raise CompileError("node_modules/solc is missing: run `make install`")
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run(
        [node, str(DRIVER)], input=payload, capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise CompileError(f"solc-js failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def solc_version() -> str:
    """The version string of the solc-js in node_modules."""
    return _run_driver("", {"GHOSTPROOF_SOLC_VERSION_ONLY": "1"})


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, dict[str, object]]:
    """Compile and return ``{name: artifact}`` for each deployable contract.

    An artifact is ``{"contractName", "sourceName", "compiler", "abi", "bytecode",
    "deployedBytecode"}``. Raises CompileError on any compiler error or version drift.
    """
    version = solc_version()
    if not version.startswith(SOLC_VERSION):
        raise CompileError(f"solc-js is {version}, the pinned version is {SOLC_VERSION}")
    output = json.loads(_run_driver(json.dumps(standard_input(contracts_dir))))
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("; ".join(e.get("formattedMessage", e["message"]) for e in errors))
    artifacts: dict[str, dict[str, object]] = {}
    for source, contracts in output["contracts"].items():
        for name, data in contracts.items():
            if name not in DEPLOYABLE:
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {"solc": version, "settings": SETTINGS},
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
            }
    missing = set(DEPLOYABLE) - set(artifacts)
    if missing:
        raise CompileError(f"contracts missing from the sources: {sorted(missing)}")
    return artifacts


def artifact_text(artifact: dict[str, object]) -> str:
    """The committed form of an artifact: sorted-key JSON, 2-space indent, trailing newline."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write_artifacts(artifacts: dict[str, dict[str, object]], out_dir: Path = ARTIFACTS_DIR) -> None:
    """Write each artifact to ``out_dir/NAME.json`` (atomically, one file at a time)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, artifact in artifacts.items():
        tmp = out_dir / f".{name}.json.tmp"
        tmp.write_text(artifact_text(artifact), encoding="utf-8")
        tmp.replace(out_dir / f"{name}.json")
