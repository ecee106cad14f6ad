"""protocol/jsonlimits.py: the loader every decoder of untrusted JSON goes through.

Hostile inputs from the security review of issue 9: nesting bombs hidden by a UTF-16/32
encoding (the old byte scanner saw other characters than ``json.loads``, which then
overflowed the C stack), and runs of escaped quotes that made the old regex quadratic.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ghostproof.protocol.constants import MAX_JSON_DEPTH
from ghostproof.protocol.errors import FormatError, GhostFileError
from ghostproof.protocol.jsonlimits import json_depth_ok, load_json

MiB = 1 << 20
VALID = {"header": {"name": 'a "quoted" [name] {x}\\', "k": [1, 2.5, -3e-7]}, "roots": ["∀", "😀"]}
VALID_BYTES = json.dumps(VALID, ensure_ascii=False).encode()


def load(data: bytes | str, **kw) -> object:
    return load_json(data, what="test file", max_bytes=kw.pop("max_bytes", 2 * MiB), **kw)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def utf16_nesting_bomb(levels: int = 100_000) -> bytes:
    """A valid-looking prefix in UTF-16-LE: ∀ (bytes 00 22) opens a "string" for a UTF-8 byte
    scan that hides every bracket after it, while ``json.loads(bytes)`` sees them all."""
    return ('{"∀":' + "[" * levels + "∀").encode("utf-16-le")


# ---------------------------------------------------------------- valid input


def test_load_json_parses_bytes_and_text_alike():
    assert load(VALID_BYTES) == VALID
    assert load(VALID_BYTES.decode()) == VALID


def test_load_json_accepts_nesting_at_the_limit():
    assert load(nested(MAX_JSON_DEPTH)) is not None


def test_load_json_ignores_brackets_and_escaped_quotes_inside_strings():
    text = json.dumps(["\\\"" + "[" * 1000 + "{" * 1000 + '\\"\\\\'])
    assert json_depth_ok(text, 1) and load(text)[0].startswith('\\"[[[')


def test_load_json_accepts_an_escaped_surrogate_pair():
    assert load('"\\ud83d\\ude00"') == "😀"


def test_load_json_accepts_exactly_max_bytes():
    data = b'"' + b"a" * 98 + b'"'
    assert load(data, max_bytes=100) == "a" * 98


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | st.text(alphabet='[]{}"\\∀嵝 a\u2028'),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
        max_leaves=40,
    )
)
def test_depth_check_agrees_with_the_parser(value):
    def depth(v: object) -> int:
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        return (1 + max(map(depth, children), default=0)) if isinstance(v, dict | list) else 0

    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        d = depth(value)
        assert json_depth_ok(text, d) and (d == 0 or not json_depth_ok(text, d - 1))


# ---------------------------------------------------------------- rejected input


def test_invalid_one_level_too_deep():
    with pytest.raises(FormatError, match="deeper than 64"):
        load(nested(MAX_JSON_DEPTH + 1))


def test_invalid_one_byte_over_the_size_cap():
    with pytest.raises(FormatError, match="over the 100-byte limit"):
        load(b'"' + b"a" * 99 + b'"', max_bytes=100)


def test_invalid_text_whose_utf8_is_over_the_size_cap():
    with pytest.raises(FormatError, match="over the 100-byte limit"):
        load('"' + "∀" * 40 + '"', max_bytes=100)  # 42 characters, 122 bytes


def test_invalid_bytes_not_utf8():
    with pytest.raises(FormatError, match="not UTF-8"):
        load(b'["\xff"]')


def test_invalid_utf8_encoded_surrogate():
    with pytest.raises(FormatError, match="not UTF-8"):
        load(b'["\xed\xa0\x80"]')  # json.loads(bytes) would accept it (surrogatepass)


def test_invalid_utf8_byte_order_mark():
    with pytest.raises(FormatError, match="byte-order mark"):
        load(b"\xef\xbb\xbf" + VALID_BYTES)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_invalid_valid_json_in_another_encoding(encoding):
    data = VALID_BYTES.decode().encode(encoding)
    assert json.loads(data) == VALID  # what json.loads(bytes) alone would let through
    with pytest.raises(FormatError):
        load(data)


def test_invalid_nul_byte():
    with pytest.raises(FormatError, match="NUL"):
        load(b'["a\x00"]')


def test_invalid_text_with_a_lone_surrogate():
    with pytest.raises(FormatError, match="lone surrogate"):
        load('["\ud800"]')


def test_invalid_escaped_lone_surrogate():
    with pytest.raises(FormatError, match="surrogate"):
        load('{"a": ["x", {"\\udc00": 1}]}')


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1E999"])
def test_invalid_non_finite_number(literal):
    with pytest.raises(FormatError, match="test file"):
        load(f"[1, {literal}]")


def test_invalid_not_json_names_the_file_in_one_line():
    with pytest.raises(FormatError) as info:
        load(b'{"a": 1,}')
    message = str(info.value)
    assert message.startswith("test file is not valid JSON") and "\n" not in message


def test_invalid_raises_the_callers_error_class():
    with pytest.raises(GhostFileError):
        load_json(b"[" * 100, what="ghost file", max_bytes=MiB, error=GhostFileError)


def test_invalid_utf16_nesting_bomb_is_not_hidden():
    assert not json_depth_ok(utf16_nesting_bomb())
    with pytest.raises(FormatError):
        load(utf16_nesting_bomb())


def test_invalid_utf16_nesting_bomb_does_not_crash_the_interpreter(tmp_path):
    # In a subprocess: the old check let this through and json.loads overflowed the C stack
    # (py_ecc, imported through eth-account, raises the recursion limit to 100000).
    path = tmp_path / "bomb.json"
    path.write_bytes(utf16_nesting_bomb())
    code = (
        "import sys, eth_account\n"
        "from ghostproof.protocol.errors import FormatError\n"
        "from ghostproof.protocol.jsonlimits import load_json\n"
        "try:\n"
        f"    load_json(open({str(path)!r}, 'rb').read(), what='bomb', max_bytes=1 << 20)\n"
        "except FormatError as exc:\n"
        "    print('rejected:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-500:])
    assert proc.stdout.startswith("rejected:")


# ---------------------------------------------------------------- linear time

ADVERSARIAL = {
    "unterminated escaped quotes": lambda n: b'"' + b'\\"' * (n // 2 - 1),
    "quote runs": lambda n: b'"' * n,
    "backslash runs": lambda n: b'"' + b"\\" * (n - 2) + b'"',
    "deep brackets": lambda n: b"[" * n,
    "brackets hidden in multi-byte characters": lambda n: ("∀[嵝" * (n // 7)).encode(),
    "unterminated string of brackets": lambda n: b'["' + b"[" * (n - 2),
    "escaped surrogates": lambda n: ('["' + "\\ud800" * (n // 6 - 1) + '"]').encode(),
    "many strings with escapes": lambda n: ("[" + '"\\u0041",' * (n // 10 - 1) + "0]").encode(),
}


def _best_time(fn, data: bytes, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - start)
    return best


def _check(data: bytes) -> None:
    try:
        load(data)
    except FormatError:
        pass


@pytest.mark.timeout(60)
@pytest.mark.parametrize("make", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_input_is_checked_in_linear_time(make):
    small, large = make(64 * 1024), make(MiB)
    t_small, t_large = _best_time(_check, small), _best_time(_check, large)
    assert t_large < 0.5, f"1 MiB took {t_large:.3f} s"
    # 16 times the bytes: linear is ~16x, quadratic ~256x (the old regex took 12.7 s at 64 KB).
    assert t_large < 64 * max(t_small, 1e-4), (t_small, t_large)


@pytest.mark.timeout(60)
def test_depth_check_of_escaped_quotes_is_linear():
    data = b'"' + b'\\"' * (MiB // 2 - 1)
    assert _best_time(json_depth_ok, data) < 0.5
