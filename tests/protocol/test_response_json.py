"""protocol/response_json.py: the JSON form of a proven answer (docs/PROTOCOL.md §8.1) and
its decoder's rejections."""

from __future__ import annotations

import json

import pytest

from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.response import Response, delta_encode
from ghostproof.protocol.response_json import (
    dumps_response,
    loads_response,
    response_from_json,
    response_to_json,
)
from tests.protocol.conftest import assert_same


@pytest.fixture(scope="module")
def obj(resp) -> dict:
    return json.loads(dumps_response(resp))


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
