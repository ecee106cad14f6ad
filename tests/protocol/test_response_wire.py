"""protocol/response_wire.py: the binary wire form of a proven answer (docs/PROTOCOL.md
§8.2) and its decoder's rejections."""

from __future__ import annotations

import numpy as np
import pytest
import zstandard

from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.response_wire import decode_binary, encode_binary
from tests.protocol.conftest import assert_same


@pytest.fixture(scope="module")
def raw(resp) -> bytes:
    return encode_binary(resp, compress=False)


@pytest.fixture(scope="module")
def packed(resp) -> bytes:
    return encode_binary(resp, compress=True)


# ---------------------------------------------------------------- round trips


def test_binary_round_trip_uncompressed(resp, raw):
    assert raw[4] == 0
    assert_same(decode_binary(raw), resp)


def test_binary_round_trip_compressed(resp, packed):
    assert packed[4] == 1
    assert_same(decode_binary(packed), resp)


def test_compressed_binary_is_smaller(raw, packed):
    assert len(packed) < len(raw)


# ---------------------------------------------------------------- binary: malformed


def test_invalid_binary_truncated_at_every_length(raw):
    for cut in range(len(raw)):
        with pytest.raises(FormatError):
            decode_binary(raw[:cut])


def test_invalid_compressed_binary_truncated_at_every_length(packed):
    for cut in range(len(packed)):
        with pytest.raises(FormatError):
            decode_binary(packed[:cut])


def test_invalid_binary_trailing_byte(raw):
    with pytest.raises(FormatError, match="trailing"):
        decode_binary(raw + b"\x00")


def test_invalid_compressed_binary_trailing_byte(packed):
    with pytest.raises(FormatError):
        decode_binary(packed + b"\x00")


def test_invalid_compressed_binary_second_frame(packed):
    with pytest.raises(FormatError):
        decode_binary(packed + zstandard.ZstdCompressor().compress(b"more"))


def test_invalid_compressed_body_trailing_byte(raw):
    frame = zstandard.ZstdCompressor().compress(raw[5:] + b"\x00")
    with pytest.raises(FormatError, match="trailing"):
        decode_binary(raw[:4] + b"\x01" + frame)


def test_invalid_compressed_frame_without_declared_size(raw):
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(raw[5:])
    with pytest.raises(FormatError):
        decode_binary(raw[:4] + b"\x01" + frame)


def test_invalid_binary_bad_magic(raw):
    with pytest.raises(FormatError, match="magic"):
        decode_binary(b"GPX" + raw[3:])


def test_invalid_binary_magic_version(raw):
    with pytest.raises(FormatError, match="magic"):
        decode_binary(b"GPX" + raw[3:])


@pytest.mark.parametrize("version", [1, 3, 255])
def test_invalid_binary_other_format_version(raw, version):
    with pytest.raises(FormatError, match=f"format version {version};.*only version 2"):
        decode_binary(raw[:3] + bytes([version]) + raw[4:])


def test_invalid_binary_unknown_flag(raw):
    with pytest.raises(FormatError, match="flags"):
        decode_binary(raw[:4] + b"\x02" + raw[5:])


def test_invalid_binary_zstd_flag_on_plain_body(raw):
    with pytest.raises(FormatError):
        decode_binary(raw[:4] + b"\x01" + raw[5:])


def test_invalid_binary_random_bytes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        junk = b"GPR\x02\x00" + rng.bytes(int(rng.integers(0, 300)))
        with pytest.raises(FormatError):
            decode_binary(junk)


def _input_offset() -> int:
    return 5 + 32 + 32 + 20 + 32 + 32 + 4  # magic, flags, modelId, chainId, contract, root, nonce, n


def test_invalid_binary_nan_input(raw):
    at = _input_offset()
    with pytest.raises(FormatError, match="NaN"):
        decode_binary(raw[:at] + np.array([np.nan], dtype=">f4").tobytes() + raw[at + 4 :])


@pytest.mark.parametrize("value", [(127 << 16) + 1, -(127 << 16) - 1, -(1 << 31)])
def test_invalid_binary_output_out_of_range(raw, resp, value):
    at = len(raw) - 20 - 65 - 4 * resp.output.size
    with pytest.raises(FormatError, match="output holds a value beyond"):
        decode_binary(raw[:at] + np.array([value], dtype=">i4").tobytes() + raw[at + 4 :])


def test_binary_output_at_the_bound_decodes(raw, resp):
    at = len(raw) - 20 - 65 - 4 * resp.output.size
    ok = decode_binary(raw[:at] + np.array([-(127 << 16)], dtype=">i4").tobytes() + raw[at + 4 :])
    assert ok.output[0] == -(127 << 16)


def test_invalid_binary_zero_layers(raw, resp):
    at = _input_offset() + 4 * resp.request.x.size
    with pytest.raises(FormatError, match="layer count"):
        decode_binary(raw[:at] + b"\x00\x00" + raw[at + 2 :])


def test_invalid_binary_k_zero(raw, resp):
    at = _input_offset() + 4 * resp.request.x.size + 2 + 8
    with pytest.raises(FormatError, match="dimensions"):
        decode_binary(raw[:at] + b"\x00\x00" + raw[at + 2 :])


@pytest.mark.parametrize(
    ("value", "ok"), [(-(1 << 31), False), (-(1 << 31) + 1, True), ((1 << 31) - 1, True)]
)
def test_binary_tau_bounds_match_json(raw, resp, value, ok):
    """τ = −2^31 is refused in both encodings (no selection can score it); the rest decode."""
    at = _input_offset() + 4 * resp.request.x.size + 2 + 10 + resp.layers[0].q.size
    data = raw[:at] + np.array([value], dtype=">i4").tobytes() + raw[at + 4 :]
    if ok:
        assert decode_binary(data).layers[0].tau == value
    else:
        with pytest.raises(FormatError, match="tau"):
            decode_binary(data)
