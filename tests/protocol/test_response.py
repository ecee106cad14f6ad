"""protocol/response.py: JSON and binary encodings of a proven answer, and their decoders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zstandard

from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.response import (
    Response,
    decode_binary,
    delta_decode,
    delta_encode,
    dumps_response,
    encode_binary,
    loads_response,
    response_from_json,
    response_to_json,
)


def assert_same(a: Response, b: Response) -> None:
    """Every field of two responses is equal (arrays by value and dtype)."""
    assert a.request.model_id == b.request.model_id
    assert a.request.nonce == b.request.nonce
    assert a.request.x.dtype == b.request.x.dtype == np.float32
    assert np.array_equal(a.request.x, b.request.x)
    assert a.ghost_root == b.ghost_root
    assert a.chain_id == b.chain_id
    assert a.verifying_contract == b.verifying_contract
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert np.array_equal(la.q, lb.q) and la.q.dtype == lb.q.dtype == np.int8
        assert la.tau == lb.tau and isinstance(la.tau, int)
        assert la.selected == lb.selected
        assert np.array_equal(la.key_columns, lb.key_columns)
        assert np.array_equal(la.value_rows, lb.value_rows)
        assert la.key_proof == lb.key_proof
        assert la.value_proof == lb.value_proof
    assert a.output.dtype == b.output.dtype == np.int64
    assert np.array_equal(a.output, b.output)
    assert a.prover == b.prover
    assert a.signature == b.signature
    assert a.digest() == b.digest()


@pytest.fixture(scope="module")
def resp(small) -> Response:
    return small.response


@pytest.fixture(scope="module")
def obj(resp) -> dict:
    return json.loads(dumps_response(resp))


@pytest.fixture(scope="module")
def raw(resp) -> bytes:
    return encode_binary(resp, compress=False)


@pytest.fixture(scope="module")
def packed(resp) -> bytes:
    return encode_binary(resp, compress=True)


def _loads(obj: dict) -> Response:
    return loads_response(json.dumps(obj))


# ---------------------------------------------------------------- round trips


def test_json_round_trip(resp):
    assert_same(loads_response(dumps_response(resp)), resp)


def test_json_object_round_trip(resp):
    assert_same(response_from_json(response_to_json(resp)), resp)


def test_json_selected_is_delta_encoded(resp, obj):
    assert obj["layers"][0]["selected"] == delta_encode(resp.layers[0].selected)
    assert sum(obj["layers"][0]["selected"]) == resp.layers[0].selected[-1]


def test_binary_round_trip_uncompressed(resp, raw):
    assert raw[4] == 0
    assert_same(decode_binary(raw), resp)


def test_binary_round_trip_compressed(resp, packed):
    assert packed[4] == 1
    assert_same(decode_binary(packed), resp)


def test_compressed_binary_is_smaller(raw, packed):
    assert len(packed) < len(raw)


def test_delta_round_trip():
    assert delta_decode(delta_encode([0, 3, 4, 100])) == (0, 3, 4, 100)


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


# ---------------------------------------------------------------- JSON: malformed


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_invalid_json_non_finite_constant_in_input(obj, constant):
    text = json.dumps(obj).replace(json.dumps(obj["request"]["input"][0]), constant, 1)
    with pytest.raises(FormatError):
        loads_response(text)


def test_invalid_json_overflowing_number_in_output(obj):
    text = json.dumps(obj).replace(json.dumps(obj["output"][0]), "1e400", 1)
    with pytest.raises(FormatError):
        loads_response(text)


def test_invalid_json_input_not_float32(obj):
    bad = json.loads(json.dumps(obj))
    bad["request"]["input"][0] = 0.1
    with pytest.raises(FormatError, match="float32"):
        _loads(bad)


def test_invalid_json_input_string(obj):
    bad = json.loads(json.dumps(obj))
    bad["request"]["input"][0] = "0.5"
    with pytest.raises(FormatError):
        _loads(bad)


def test_invalid_json_input_empty(obj):
    bad = json.loads(json.dumps(obj))
    bad["request"]["input"] = []
    with pytest.raises(FormatError):
        _loads(bad)


def test_invalid_json_selected_repeated_index(obj):
    bad = json.loads(json.dumps(obj))
    bad["layers"][0]["selected"][2] = 0
    with pytest.raises(FormatError, match="selected"):
        _loads(bad)


def test_invalid_json_selected_decreasing(obj):
    bad = json.loads(json.dumps(obj))
    bad["layers"][1]["selected"][3] = -1
    with pytest.raises(FormatError, match="selected"):
        _loads(bad)


def test_invalid_json_selected_empty(obj):
    bad = json.loads(json.dumps(obj))
    bad["layers"][0]["selected"] = []
    with pytest.raises(FormatError):
        _loads(bad)


def test_invalid_json_selected_bool(obj):
    bad = json.loads(json.dumps(obj))
    bad["layers"][0]["selected"][0] = True
    with pytest.raises(FormatError):
        _loads(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", "ghostproof/response/1"),
        ("format", "ghostproof/response/3"),
        ("format", "ghostproof/reply/2"),
        ("modelId", -1),
        ("modelId", 1 << 256),
        ("modelId", "7"),
        ("chainId", 1.5),
        ("verifyingContract", "0x1234"),
        ("ghostRoot", "0x" + "00" * 31),
        ("ghostRoot", "0X" + "00" * 32),
        ("prover", "0x" + "zz" * 20),
        ("signature", "0x" + "00" * 64),
        ("output", []),
        ("layers", []),
    ],
)
def test_invalid_json_top_level_field(obj, field, value):
    bad = json.loads(json.dumps(obj))
    bad[field] = value
    with pytest.raises(FormatError):
        _loads(bad)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("q", "0x"),
        ("keyColumns", "0x00"),
        ("valueRows", "0x00"),
        ("keyProof", ["0x00"]),
        ("valueProof", "0x00"),
        ("dOut", 0),
        ("tau", 1 << 31),
        ("tau", -(1 << 31)),
        ("tau", 1.0),
        ("tau", "5"),
        ("tau", True),
    ],
)
def test_invalid_json_layer_field(obj, field, value):
    bad = json.loads(json.dumps(obj))
    bad["layers"][0][field] = value
    with pytest.raises(FormatError):
        _loads(bad)


@pytest.mark.parametrize("value", [[1.5], [(127 << 16) + 1], [True], ["1"], []])
def test_invalid_json_output(obj, value):
    bad = json.loads(json.dumps(obj))
    bad["output"] = value
    with pytest.raises(FormatError, match="output"):
        _loads(bad)


def test_invalid_json_nonce_length(obj):
    bad = json.loads(json.dumps(obj))
    bad["request"]["nonce"] = "0x00"
    with pytest.raises(FormatError, match="nonce"):
        _loads(bad)


def test_invalid_json_missing_field(obj):
    bad = json.loads(json.dumps(obj))
    del bad["signature"]
    with pytest.raises(FormatError):
        _loads(bad)


def test_invalid_json_extra_field(obj):
    bad = json.loads(json.dumps(obj))
    bad["extra"] = 1
    with pytest.raises(FormatError):
        _loads(bad)


def test_invalid_json_not_json():
    with pytest.raises(FormatError):
        loads_response(b"\xff{")


def test_invalid_json_deeply_nested():
    with pytest.raises(FormatError):
        loads_response(b"[" * 100_000)
