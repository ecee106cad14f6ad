"""A bound on JSON nesting, checked before ``json.loads`` sees untrusted bytes.

Used by the ghost-file and response decoders. Deep nesting would otherwise exhaust the
stack: py_ecc (imported through eth-account) raises the recursion limit to 100000, so
``json.loads(b"[" * 100000)`` crashes the interpreter instead of raising RecursionError.
"""

from __future__ import annotations

import re

import numpy as np

from .constants import MAX_JSON_DEPTH

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_depth_ok(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True iff no array/object in ``data`` is nested deeper than ``limit`` (strings ignored)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    chars = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
    step = np.isin(chars, (ord("["), ord("{"))).astype(np.int64)
    step -= np.isin(chars, (ord("]"), ord("}")))
    return chars.size == 0 or int(np.max(np.cumsum(step))) <= limit
