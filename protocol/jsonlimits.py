"""The one way to parse JSON that came from outside: size cap, strict UTF-8, depth bound.

Used by every decoder of untrusted JSON (ghost files, responses, anchor and deployment
files, IPFS store replies). Two attacks shape it:

* Deep nesting exhausts the C stack: py_ecc (imported through eth-account) raises the
  recursion limit to 100000, so ``json.loads("[" * 100000)`` crashes the interpreter
  instead of raising RecursionError. The depth is therefore bounded *before* parsing.
* The check must not be fooled or slowed down. ``json.loads(bytes)`` also accepts UTF-16
  and UTF-32, so a check that scans the bytes as UTF-8 sees other characters than the
  parser does; and a backtracking regex over strings is quadratic on an unterminated run
  of escaped quotes. Here the bytes are decoded strictly as UTF-8 once, the *same* text is
  both checked and parsed, and the check is one vectorised pass with no backtracking.

Why the check can scan the UTF-8 bytes of the text: in valid UTF-8 a byte below 0x80 is
always a whole ASCII character (every byte of a multi-byte character is 0x80 or above), and
the characters that matter (``"``, ``\\``, brackets, braces) are ASCII. So the structural
bytes, in order, are exactly the structural characters of the decoded text.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from .constants import MAX_JSON_DEPTH
from .errors import FormatError

#: Largest JSON response accepted: the binary wire form's 64 MiB bound, hex-encoded.
#: (Belongs in constants.py; kept here while that file is being rewritten.)
MAX_RESPONSE_JSON_BYTES = 128 << 20
#: Bytes scanned per vectorised step; bounds the check's working memory (~40 B per byte).
_BLOCK = 1 << 20
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENERS, _CLOSERS = (ord("["), ord("{")), (ord("]"), ord("}"))
_UTF8_BOM = b"\xef\xbb\xbf"


def load_json(
    data: bytes | str,
    *,
    what: str,
    max_bytes: int,
    max_depth: int = MAX_JSON_DEPTH,
    error: type[FormatError] = FormatError,
) -> object:
    """Parse untrusted JSON ``data`` (UTF-8 bytes, or text) into Python objects.

    In order, each failure raising ``error`` (FormatError or a subclass) with one line that
    names ``what``: more than ``max_bytes`` bytes of UTF-8; bytes that are not strict UTF-8
    (a byte-order mark, UTF-16/32, NUL bytes, or text holding a lone surrogate); arrays or
    objects nested deeper than ``max_depth``; not JSON; the constants NaN/Infinity or a
    number that overflows to an infinite float; a string escaping a lone surrogate.
    Time and memory are linear in the size: the depth is known before ``json.loads`` runs.
    """
    text, raw = _utf8(data, what, max_bytes, error)
    if _max_depth(raw) > max_depth:
        raise error(f"{what} nests arrays or objects deeper than {max_depth} levels")
    try:
        obj = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except FormatError as exc:
        raise error(f"{what}: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, or an integer over Python's digit limit
        raise error(f"{what} is not valid JSON: {exc}") from None
    if "\\u" in text and _has_lone_surrogate(obj):
        raise error(f"{what} holds a string with an unpaired \\u surrogate escape")
    return obj


def json_depth_ok(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True iff ``data`` passes :func:`load_json`'s encoding checks (strict UTF-8, no
    byte-order mark, no NUL byte, no lone surrogate: so ``json.loads(data)`` decodes it as
    UTF-8 too) and no array/object in it is nested deeper than ``limit`` (brackets inside
    strings ignored). Linear time. No size cap: prefer :func:`load_json`."""
    try:
        raw = _utf8(data, "JSON", sys.maxsize, FormatError)[1]
    except FormatError:
        return False
    return _max_depth(raw) <= limit


def _utf8(data: bytes | str, what: str, max_bytes: int, error: type[FormatError]) -> tuple[str, bytes]:
    """(text, its UTF-8 bytes) of ``data``, checked as described in :func:`load_json`."""
    if len(data) > max_bytes:  # before any copy; a character is at least one byte
        raise error(f"{what} is over the {max_bytes}-byte limit")
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(f"{what} holds a lone surrogate at character {exc.start}") from None
        if len(raw) > max_bytes:
            raise error(f"{what} is over the {max_bytes}-byte limit")
        text = data
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if raw.startswith(_UTF8_BOM):
        raise error(f"{what} starts with a byte-order mark; JSON must be UTF-8 without one")
    if b"\x00" in raw:  # never valid in JSON text; the mark of UTF-16 or UTF-32
        raise error(f"{what} holds NUL bytes (UTF-16 or UTF-32?); JSON must be UTF-8")
    return text, raw


def _max_depth(raw: bytes) -> int:
    """The deepest array/object nesting in UTF-8 JSON ``raw``, brackets in strings ignored.

    Exact up to the first syntax error (where ``json.loads`` stops), so an upper bound on
    how deep the parser recurses; beyond it the count may be anything. One pass."""
    state = np.zeros(3, dtype=np.int64)  # trailing backslash parity, in-string parity, depth
    deepest = 0
    for start in range(0, len(raw), _BLOCK):
        block = np.frombuffer(raw, dtype=np.uint8, count=min(_BLOCK, len(raw) - start), offset=start)
        deepest = max(deepest, _scan_block(block, state))
    return deepest


def _scan_block(block: np.ndarray, state: np.ndarray) -> int:
    """Scan one block, carrying ``state`` from the previous one and updating it in place;
    return the deepest nesting reached in the block.

    A quote is a string delimiter unless an odd run of backslashes precedes it (inside a
    string that is JSON's escape rule; outside one a backslash is already a syntax error).
    A bracket counts when an even number of delimiters precede it."""
    idx = np.arange(block.size, dtype=np.int64)
    is_bs = block == _BACKSLASH
    last_other = np.maximum.accumulate(np.where(is_bs, -1 - state[0], idx))
    run = idx - last_other  # length of the backslash run ending at each byte, inclusive
    escaped = np.empty(block.size, dtype=bool)
    escaped[0] = state[0] & 1
    escaped[1:] = run[:-1] & 1
    in_string = (np.cumsum((block == _QUOTE) & ~escaped, dtype=np.int64) + state[1]) & 1
    opens = (block == _OPENERS[0]) | (block == _OPENERS[1])
    closes = (block == _CLOSERS[0]) | (block == _CLOSERS[1])
    step = opens.astype(np.int64) - closes
    step[in_string == 1] = 0
    depth = np.cumsum(step) + state[2]
    state[:] = (run[-1] & 1, in_string[-1], depth[-1])
    return int(depth.max())


def _reject_constant(name: str) -> float:
    raise FormatError(f"the JSON constant {name} is not allowed")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        shown = literal if len(literal) <= 24 else literal[:24] + "…"
        raise FormatError(f"the number {shown} is out of range of a float")
    return value


def _has_lone_surrogate(obj: object) -> bool:
    """True iff some string (key or value) in the parsed ``obj`` is not encodable as UTF-8."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and not _encodable(item):
            return True
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
