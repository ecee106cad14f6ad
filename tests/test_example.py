"""The committed sample answer (examples/digits/) is what scripts/make_example.py writes today,
and it verifies against its committed root."""

from __future__ import annotations

from pathlib import Path

from ghostproof.adapters.storage.answers import read_request, read_response
from ghostproof.adapters.storage.layout import read_ghost
from ghostproof.protocol.hashing import from_hex
from ghostproof.verifier.verify import Expected, verify
from tests.fixtures.scripts import load_script

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits"
FILES = ("answer.json", "ghost.json", "request.json", "root.txt")


def _make_example():
    return load_script("make_example").make_example


def test_example_is_current(tmp_path: Path) -> None:
    _make_example()(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), (
            f"examples/digits/{name} is stale: run scripts/make_example.py"
        )


def test_example_verifies_against_its_root() -> None:
    root = from_hex((EXAMPLE / "root.txt").read_text().strip(), "ghostRoot", 32)
    response = read_response(EXAMPLE / "answer.json")
    expected = Expected(request=read_request(EXAMPLE / "request.json"))
    result = verify(response, read_ghost(EXAMPLE / "ghost.json"), root, expected)
    assert result.top1 == 9
