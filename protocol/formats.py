"""Format version checks shared by the ghost-file and response decoders.

A document names its format as ``ghostproof/<kind>/<version>``; this reader accepts only
``FORMAT_VERSION`` and says, in one line, which version it was given instead.
"""

from __future__ import annotations

from .constants import FORMAT_VERSION
from .errors import FormatError


def check_format(value: object, prefix: str, what: str, error: type[FormatError]) -> None:
    """Raise ``error`` unless ``value`` is ``prefix`` followed by the supported version.

    A known prefix with another version gets a message naming both versions (e.g. an
    answer made by an older prover); anything else is an unknown format."""
    expected = f"{prefix}{FORMAT_VERSION}"
    if value == expected:
        return
    if isinstance(value, str) and value.startswith(prefix):
        version = value[len(prefix):][:20]
        raise error(
            f"{what} is format version {version}; this ghostproof reads only version "
            f"{FORMAT_VERSION} ({expected}): rebuild or re-prove it with a current ghostproof"
        )
    raise error(f"{what} has unknown format {str(value)[:60]!r} (expected {expected!r})")
