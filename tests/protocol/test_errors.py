"""protocol/errors.py: one root, one table; docs/ARCHITECTURE.md prints the same table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from ghostproof.protocol import errors as E

DOC = (Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
ROW = re.compile(r"^\| `(\w+)` \| `(\w+)` \| (\d) \| (\d{3}) \| ", re.MULTILINE)
CLASSES = [c for _, c in inspect.getmembers(E, inspect.isclass) if issubclass(c, E.GhostproofError)]


def _instance(cls: type[E.GhostproofError]) -> E.GhostproofError:
    return cls.__new__(cls)


def test_every_class_is_in_the_documented_table_with_its_codes():
    rows = {name: (parent, int(code), int(status)) for name, parent, code, status in ROW.findall(DOC)}
    assert set(rows) == {c.__name__ for c in CLASSES}
    for cls in CLASSES:
        parent = next((b.__name__ for b in cls.__bases__ if issubclass(b, E.GhostproofError)), "Exception")
        assert rows[cls.__name__] == (parent, E.exit_code(_instance(cls)), E.http_status(_instance(cls)))


@pytest.mark.parametrize(
    ("cls", "code"),
    [(E.ProofError, 1), (E.RootMismatchError, 1), (E.ProverMismatchError, 1), (E.InputError, 2),
     (E.GhostFileError, 2), (E.VoucherError, 2), (E.MissingExtraError, 2), (E.ExternalError, 3),
     (E.BlockNotFoundError, 3), (E.CompileError, 3)],
)
def test_exit_codes_by_meaning(cls, code):
    assert E.exit_code(_instance(cls)) == code


def test_every_input_error_is_a_value_error():
    assert all(issubclass(c, ValueError) for c in CLASSES if issubclass(c, E.InputError))


def test_one_class_for_a_root_mismatch():
    assert not hasattr(E, "AnchorError") and not hasattr(E, "AuditMismatchError")
    assert issubclass(E.RootMismatchError, E.ProofError)


def test_unknown_exception_is_bad_input():
    assert (E.exit_code(RuntimeError("x")), E.http_status(RuntimeError("x"))) == (2, 500)
