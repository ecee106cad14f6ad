"""protocol/request.py: the request's JSON object and binary wire form (PROTOCOL.md §8.3)."""

from __future__ import annotations

import numpy as np
import pytest

from ghostproof.protocol.errors import FormatError
from ghostproof.protocol.request import (
    decode_request,
    encode_request,
    request_from_json,
    request_to_json,
)
from ghostproof.protocol.response import Request

REQ = Request(model_id=7, x=np.array([1.5, -2.0, 0.25], dtype=np.float32), nonce=bytes(range(32)))


def test_json_round_trip():
    back = request_from_json(request_to_json(REQ))
    assert back.hash == REQ.hash


def test_binary_round_trip_and_layout():
    data = encode_request(REQ)
    assert data[:4] == b"GPQ\x02" and len(data) == 4 + 32 + 32 + 4 + 4 * 3
    assert data[4:36] == (7).to_bytes(32, "big") and data[36:68] == REQ.nonce
    assert data[68:72] == (3).to_bytes(4, "big") and data[72:76] == np.array([1.5], ">f4").tobytes()
    assert decode_request(data).hash == REQ.hash


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: b"GPR" + d[3:], "body"),
        (lambda d: d[:3] + b"\x01" + d[4:], "body"),
        (lambda d: d[:-1], "input"),
        (lambda d: d + b"\x00", "input"),
        (lambda d: d[:68] + bytes(4) + d[72:], "input"),
        (lambda d: d[:72] + np.array([np.nan], ">f4").tobytes() + d[76:], "input"),
    ],
)
def test_invalid_binary_request(mutate, field):
    with pytest.raises(FormatError) as info:
        decode_request(mutate(encode_request(REQ)))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [("modelId", -1, "modelId"), ("modelId", True, "modelId"), ("input", [0.1], "input"),
     ("input", [], "input"), ("input", ["1"], "input"), ("nonce", "0x00", "nonce")],
)
def test_invalid_json_request_names_the_field(key, value, field):
    obj = {**request_to_json(REQ), key: value}
    with pytest.raises(FormatError) as info:
        request_from_json(obj)
    assert info.value.field == field


def test_invalid_json_request_extra_key():
    with pytest.raises(FormatError) as info:
        request_from_json({**request_to_json(REQ), "x": 1})
    assert info.value.field == "body"
