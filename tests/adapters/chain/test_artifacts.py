"""The committed artifacts are exactly what the pinned solc-js makes of the sources."""

from __future__ import annotations

from ghostproof.adapters.chain.compile import (
    ARTIFACTS_DIR,
    DEPLOYABLE,
    SOLC_VERSION,
    artifact_text,
    compile_contracts,
    solc_version,
)


def test_solc_is_pinned_version() -> None:
    assert solc_version().startswith(SOLC_VERSION)


def test_artifacts_match_sources() -> None:
    fresh = compile_contracts()
    for name in DEPLOYABLE:
        committed = (ARTIFACTS_DIR / f"{name}.json").read_text(encoding="utf-8")
        assert committed == artifact_text(fresh[name]), (
            f"contracts/artifacts/{name}.json is stale: run scripts/compile_contracts.py"
        )
