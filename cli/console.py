"""Terminal output shared by every CLI command: the rich consoles, progress bars, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from ghostproof.protocol.ghost import GhostFile

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


def step_progress(bar: Progress) -> Callable[[str, int, int], None]:
    """An ``on_progress(description, done, total)`` for the prover's build steps: one task on
    ``bar`` per description, added the first time it is seen."""
    tasks: dict[str, TaskID] = {}

    def on_progress(description: str, done: int, total: int) -> None:
        if description not in tasks:
            tasks[description] = bar.add_task(description, total=total)
        bar.update(tasks[description], completed=done, total=total)

    return on_progress


@dataclass(frozen=True)
class ByteTask:
    """One byte-counting task of a progress display: the model's weights moving through a
    publish, fetch or audit."""

    bar: Progress
    task: TaskID

    def advance(self, n: int) -> None:
        """Count ``n`` more bytes done (an ``on_progress`` for the storage transfers)."""
        self.bar.advance(self.task, n)

    def size_for(self, ghost: GhostFile) -> None:
        """Set the total to the bytes of ``ghost``'s matrices (an ``on_ghost`` callback)."""
        from ghostproof.adapters.storage.transfer import matrix_bytes

        self.bar.update(self.task, total=matrix_bytes(ghost))


@contextmanager
def byte_progress(description: str, quiet: bool = False) -> Iterator[ByteTask]:
    """A progress display (:func:`progress`) with one byte-counting task, of unknown size until
    :meth:`ByteTask.size_for` is called."""
    with progress(quiet) as bar:
        yield ByteTask(bar, bar.add_task(description, total=None))
