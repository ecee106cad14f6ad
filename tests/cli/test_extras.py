"""Commands of the prover role without the prover extra: one line naming the extra, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ghostproof.cli.extras import extra_for, needs_extra, require_extra
from ghostproof.protocol.errors import MissingExtraError, exit_code

# Hide a package of the prover extra the way an uninstalled one looks: find_spec gives None
# and importing it raises ModuleNotFoundError.
HIDE = "import sys; sys.modules[{name!r}] = None; from ghostproof.cli.main import main; main()"


def run_without(name: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess in which package ``name`` is not importable."""
    return subprocess.run(
        [sys.executable, "-c", HIDE.format(name=name), *argv],
        capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
    )


@pytest.mark.parametrize(
    ("hidden", "argv", "command"),
    [
        ("sklearn", ["model", "build", "-o", "m"], "model build"),
        ("hnswlib", ["model", "index", "m"], "model index"),
        ("hnswlib", ["prove", "m", "--sample", "0", "-o", "a.json"], "prove"),
        ("eth_tester", ["demo", "--samples", "1"], "demo"),
    ],
)
def test_invalid_prover_command_without_extra_exits_2(
    tmp_path: Path, hidden: str, argv: list[str], command: str
) -> None:
    proc = run_without(hidden, *argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"error: ghostproof {command} needs the prover extra: pip install 'ghostproof[prover]'"
    )
    assert not (tmp_path / "m").exists()  # refused before any work


def test_verify_does_not_need_the_prover_extra(tmp_path: Path) -> None:
    proc = run_without("hnswlib", "verify", "missing.json", "--ghost", "g.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert "extra" not in proc.stderr and "missing.json" in proc.stderr


def test_require_extra_passes_when_installed() -> None:
    require_extra("model build")  # the dev install has the prover extra


def test_module_not_found_inside_a_command_names_its_extra() -> None:
    @needs_extra("serve")
    def serve() -> None:
        raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")

    with pytest.raises(MissingExtraError, match=r"ghostproof serve needs the prover extra") as info:
        serve()
    assert exit_code(info.value) == 2


def test_other_module_not_found_passes_through() -> None:
    @needs_extra("prove")
    def prove() -> None:
        raise ModuleNotFoundError("No module named 'numpyy'", name="numpyy")

    with pytest.raises(ModuleNotFoundError):
        prove()


def test_extra_for_maps_submodules_to_their_extra() -> None:
    assert extra_for(ModuleNotFoundError(name="sklearn.datasets")) == "prover"
    assert extra_for(ModuleNotFoundError(name="torch")) == "torch"
    assert extra_for(ModuleNotFoundError(name="web3")) is None
