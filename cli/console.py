"""Terminal output shared by every CLI command: the rich consoles, progress bars, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(obj: object) -> None:
    """Write ``obj`` as one JSON document on stdout (for ``--json``)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextmanager
def progress(quiet: bool = False) -> Iterator[Progress]:
    """A rich progress display on stderr (silent when ``quiet``, e.g. under ``--json``)."""
    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    with bar:
        yield bar
