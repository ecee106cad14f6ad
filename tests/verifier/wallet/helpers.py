"""Running the CLI in-process for the wallet tests."""

from __future__ import annotations

import pytest

from ghostproof.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr with spaces collapsed)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, " ".join(captured.err.split())


def one_error(err: str) -> bool:
    """One error line, no traceback."""
    return err.startswith("error: ") and err.count("error: ") == 1 and "Traceback" not in err
