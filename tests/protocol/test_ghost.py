"""protocol/ghost.py and protocol/chunks.py: the ghost file, its hashes, and its chunk table.

Every field of a valid ghost file is tampered with in turn; each tamper must either be
rejected by ``parse_ghost`` or change the ghostRoot, and each case says which.
"""

from __future__ import annotations

import copy
import json

import pytest
import rfc8785

from ghostproof.protocol.chunks import ChunkRef, check_chunk_table, cid_for_bytes, cid_matches
from ghostproof.protocol.errors import GhostFileError, MultiproofError
from ghostproof.protocol.ghost import GhostFile, LayerRootOpening, parse_ghost
from ghostproof.protocol.hashing import ghost_root, keccak256, root_leaf_hash
from ghostproof.protocol.merkle import merkle_root

REJECT = "reject"
ROOT = "root changes"
OTHER_CID = cid_for_bytes(b"other")


@pytest.fixture(scope="module")
def ghost(small) -> GhostFile:
    return small.model.ghost


@pytest.fixture(scope="module")
def ghost_obj(ghost) -> dict:
    return json.loads(ghost.to_bytes())


def _set(obj: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(obj)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _outcome(obj: dict, original: GhostFile) -> str:
    try:
        parsed = parse_ghost(rfc8785.dumps(obj))
    except GhostFileError:
        return REJECT
    return ROOT if parsed.ghost_root != original.ghost_root else "unchanged"


# ---------------------------------------------------------------- valid file


def test_canonical_round_trip(ghost):
    assert parse_ghost(ghost.to_bytes()).to_bytes() == ghost.to_bytes()


def test_parsed_ghost_root_equals_committed(ghost):
    assert parse_ghost(ghost.to_bytes()).ghost_root == ghost.ghost_root


def test_header_hash_is_keccak_of_rfc8785_header(ghost, ghost_obj):
    assert ghost.header_hash == keccak256(rfc8785.dumps(ghost_obj["header"]))


def test_layers_root_is_tree_of_tagged_layer_roots(ghost):
    leaves = []
    for layer, (k, v) in enumerate(ghost.roots):
        leaves += [root_leaf_hash(layer, 0, k), root_leaf_hash(layer, 1, v)]
    assert ghost.layers_root == merkle_root(leaves)


def test_ghost_root_binds_header_and_layers(ghost):
    assert ghost.ghost_root == keccak256(b"\x03" + ghost.header_hash + ghost.layers_root)


def test_file_bytes_are_sorted_compact_json(ghost, ghost_obj):
    assert ghost.to_bytes() == json.dumps(ghost_obj, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("matrix", ["K", "V"])
def test_layer_root_opening_reproduces_ghost_root(ghost, layer, matrix):
    assert ghost.open_layer_root(layer, matrix).ghost_root() == ghost.ghost_root


def test_invalid_layer_root_opening_wrong_root(ghost):
    opening = ghost.open_layer_root(1, "V")
    forged = LayerRootOpening(**{**opening.__dict__, "root": keccak256(b"forged")})
    assert forged.ghost_root() != ghost.ghost_root


def test_invalid_layer_root_opening_wrong_matrix(ghost):
    opening = ghost.open_layer_root(0, "K")
    forged = LayerRootOpening(**{**opening.__dict__, "matrix": "V"})
    assert forged.ghost_root() != ghost.ghost_root


def test_invalid_layer_root_opening_extra_proof_hash(ghost):
    opening = ghost.open_layer_root(0, "K")
    forged = LayerRootOpening(**{**opening.__dict__, "proof": (*opening.proof, bytes(32))})
    with pytest.raises(MultiproofError):
        forged.ghost_root()


def test_invalid_layer_root_opening_wrong_header_hash(ghost):
    opening = ghost.open_layer_root(0, "K")
    forged = LayerRootOpening(**{**opening.__dict__, "header_hash": keccak256(b"h")})
    assert forged.ghost_root() == ghost_root(keccak256(b"h"), ghost.layers_root) != ghost.ghost_root


# ---------------------------------------------------------------- one field at a time

TAMPERS = [
    # header
    (("header", "format"), "ghostproof/ghost/1", REJECT),
    (("header", "format"), "ghostproof/ghost/3", REJECT),
    (("header", "format"), "ghostproof/gost/2", REJECT),
    (("header", "name"), "another name", ROOT),
    (("header", "name"), "x" * 201, REJECT),
    (("header", "name"), 5, REJECT),
    (("header", "hash"), "sha256", REJECT),
    (("header", "leafEncoding"), "keccak256(column)", REJECT),
    (("header", "layers"), [], REJECT),
    (("header", "chunks"), {}, REJECT),
    # layer 0 / layer 1 fields
    (("header", "layers", 0, "dIn"), 17, ROOT),
    (("header", "layers", 0, "dIn"), 0, REJECT),
    (("header", "layers", 0, "dIn"), "16", REJECT),
    (("header", "layers", 0, "dIn"), 1 << 17, REJECT),
    (("header", "layers", 0, "dOut"), 17, REJECT),  # no longer layer 1's dIn
    (("header", "layers", 1, "dIn"), 17, REJECT),
    (("header", "layers", 1, "dOut"), 17, ROOT),
    (("header", "layers", 0, "n"), 299, REJECT),  # chunk table runs past n
    (("header", "layers", 0, "n"), 301, REJECT),  # chunk table misses a column
    (("header", "layers", 0, "n"), True, REJECT),
    (("header", "layers", 0, "k"), 9, ROOT),
    (("header", "layers", 0, "k"), 0, REJECT),
    (("header", "layers", 0, "k"), 301, REJECT),
    (("header", "layers", 0, "k"), 1025, REJECT),
    (("header", "layers", 0, "beta"), 31.5, ROOT),
    (("header", "layers", 0, "beta"), 0, REJECT),
    (("header", "layers", 0, "beta"), -30, REJECT),
    (("header", "layers", 0, "beta"), "30", REJECT),
    (("header", "layers", 1, "sK"), 0.5, ROOT),
    (("header", "layers", 1, "sK"), 0, REJECT),
    (("header", "layers", 1, "sV"), 0.5, ROOT),
    (("header", "layers", 1, "sV"), -0.5, REJECT),
    (("header", "layers", 0, "extra"), 1, REJECT),
    # chunk table
    (("header", "chunks", 0, "layer"), 1, REJECT),
    (("header", "chunks", 3, "layer"), 2, REJECT),
    (("header", "chunks", 0, "layer"), -1, REJECT),
    (("header", "chunks", 0, "matrix"), "V", REJECT),
    (("header", "chunks", 0, "matrix"), "Q", REJECT),
    (("header", "chunks", 0, "first"), 1, REJECT),
    (("header", "chunks", 0, "count"), 299, REJECT),
    (("header", "chunks", 0, "count"), 301, REJECT),
    (("header", "chunks", 0, "count"), 0, REJECT),
    (("header", "chunks", 0, "cid"), OTHER_CID, ROOT),
    (("header", "chunks", 0, "cid"), "bafy-not-a-cid", REJECT),
    (("header", "chunks", 0, "cid"), 7, REJECT),
    (("header", "chunks", 0, "extra"), 1, REJECT),
    # roots
    (("roots", 0, "K"), "0x" + "00" * 32, ROOT),
    (("roots", 0, "V"), "0x" + "11" * 32, ROOT),
    (("roots", 1, "K"), "0x" + "22" * 32, ROOT),
    (("roots", 1, "V"), "0x" + "33" * 32, ROOT),
    (("roots", 0, "K"), "0x" + "00" * 31, REJECT),
    (("roots", 1, "V"), "00" * 32, REJECT),
    (("roots", 0, "extra"), "0x" + "00" * 32, REJECT),
    # top level
    (("extra",), 1, REJECT),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), TAMPERS, ids=[f"{'.'.join(map(str, p))}={v!r}"[:60] for p, v, _ in TAMPERS]
)
def test_tampered_field(ghost, ghost_obj, path, value, expected):
    assert _outcome(_set(ghost_obj, path, value), ghost) == expected


@pytest.mark.parametrize("key", ["format", "name", "hash", "leafEncoding", "layers", "chunks"])
def test_invalid_missing_header_field(ghost, ghost_obj, key):
    obj = copy.deepcopy(ghost_obj)
    del obj["header"][key]
    assert _outcome(obj, ghost) == REJECT


@pytest.mark.parametrize("key", ["dIn", "dOut", "n", "k", "beta", "sK", "sV"])
def test_invalid_missing_layer_field(ghost, ghost_obj, key):
    obj = copy.deepcopy(ghost_obj)
    del obj["header"]["layers"][0][key]
    assert _outcome(obj, ghost) == REJECT


def test_invalid_missing_root_pair(ghost, ghost_obj):
    obj = copy.deepcopy(ghost_obj)
    obj["roots"].pop()
    assert _outcome(obj, ghost) == REJECT


def test_invalid_extra_root_pair(ghost, ghost_obj):
    obj = copy.deepcopy(ghost_obj)
    obj["roots"].append(obj["roots"][0])
    assert _outcome(obj, ghost) == REJECT


def test_invalid_swapped_layer_roots(ghost, ghost_obj):
    obj = copy.deepcopy(ghost_obj)
    obj["roots"][0]["K"], obj["roots"][0]["V"] = obj["roots"][0]["V"], obj["roots"][0]["K"]
    assert _outcome(obj, ghost) == ROOT


def test_invalid_dropped_chunk(ghost, ghost_obj):
    obj = copy.deepcopy(ghost_obj)
    obj["header"]["chunks"].pop(1)
    assert _outcome(obj, ghost) == REJECT


def test_invalid_duplicated_chunk(ghost, ghost_obj):
    obj = copy.deepcopy(ghost_obj)
    obj["header"]["chunks"].insert(0, obj["header"]["chunks"][0])
    assert _outcome(obj, ghost) == REJECT


def test_ghost_without_chunk_table_is_accepted_with_another_root(ghost, ghost_obj):
    assert _outcome(_set(ghost_obj, ("header", "chunks"), []), ghost) == ROOT


# ---------------------------------------------------------------- non-canonical bytes


def test_invalid_non_canonical_whitespace(ghost_obj):
    with pytest.raises(GhostFileError):
        parse_ghost(json.dumps(ghost_obj, sort_keys=True, indent=1).encode())


def test_invalid_non_canonical_key_order(ghost_obj):
    obj = {"roots": ghost_obj["roots"], "header": ghost_obj["header"]}
    with pytest.raises(GhostFileError):
        parse_ghost(json.dumps(obj, separators=(",", ":")).encode())


def test_invalid_trailing_newline(ghost):
    with pytest.raises(GhostFileError):
        parse_ghost(ghost.to_bytes() + b"\n")


def test_invalid_non_canonical_number(ghost):
    data = ghost.to_bytes().replace(b'"beta":30', b'"beta":30.0', 1)
    assert data != ghost.to_bytes()
    with pytest.raises(GhostFileError):
        parse_ghost(data)


def test_invalid_uppercase_hex_root(ghost):
    data = ghost.to_bytes()
    hex_root = ghost.roots[0][0].hex().encode()
    assert hex_root != hex_root.upper()
    with pytest.raises(GhostFileError):
        parse_ghost(data.replace(hex_root, hex_root.upper()))


def test_invalid_not_json():
    with pytest.raises(GhostFileError):
        parse_ghost(b"\xff\xfe not json")


def test_invalid_top_level_list():
    with pytest.raises(GhostFileError):
        parse_ghost(b"[]")


def test_invalid_huge_integer_for_a_float_field(ghost):
    data = ghost.to_bytes().replace(b'"beta":30', b'"beta":1' + b"0" * 400, 1)
    with pytest.raises(GhostFileError):
        parse_ghost(data)


def test_invalid_deeply_nested_json():
    with pytest.raises(GhostFileError):
        parse_ghost(b"[" * 100_000)


def test_invalid_ghost_file_with_root_count_mismatch(ghost):
    with pytest.raises(GhostFileError):
        GhostFile(ghost.header, ghost.roots[:1])


# ---------------------------------------------------------------- chunk table


LAYERS = [(10, 4, 2)]  # one layer: n=10, dIn=4, dOut=2


def _table(k_runs, v_runs=((0, 10),)):
    cid = cid_for_bytes(b"c")
    return [ChunkRef(0, "K", f, c, cid) for f, c in k_runs] + [ChunkRef(0, "V", f, c, cid) for f, c in v_runs]


def test_chunk_table_contiguous_runs_accepted():
    check_chunk_table(_table([(0, 4), (4, 6)]), LAYERS)


def test_invalid_chunk_table_overlap():
    with pytest.raises(GhostFileError, match="overlaps"):
        check_chunk_table(_table([(0, 5), (4, 6)]), LAYERS)


def test_invalid_chunk_table_gap():
    with pytest.raises(GhostFileError, match="gap"):
        check_chunk_table(_table([(0, 4), (5, 5)]), LAYERS)


def test_invalid_chunk_table_missing_tail():
    with pytest.raises(GhostFileError, match="misses"):
        check_chunk_table(_table([(0, 4), (4, 5)]), LAYERS)


def test_invalid_chunk_table_past_the_end():
    with pytest.raises(GhostFileError):
        check_chunk_table(_table([(0, 4), (4, 7)]), LAYERS)


def test_invalid_chunk_table_missing_matrix():
    with pytest.raises(GhostFileError):
        check_chunk_table(_table([(0, 10)], v_runs=()), LAYERS)


def test_invalid_chunk_table_unknown_layer():
    table = [*_table([(0, 10)]), ChunkRef(1, "K", 0, 1, cid_for_bytes(b"c"))]
    with pytest.raises(GhostFileError):
        check_chunk_table(table, LAYERS)


def test_invalid_chunk_over_one_mib():
    layers = [(1 << 20, 2, 1)]
    cid = cid_for_bytes(b"c")
    table = [ChunkRef(0, "K", 0, 1 << 19, cid), ChunkRef(0, "K", 1 << 19, 1 << 19, cid)]
    table += [ChunkRef(0, "V", 0, 1 << 20, cid)]
    check_chunk_table(table, layers)  # 2 bytes x 2^19 columns: exactly 1 MiB
    table[0] = ChunkRef(0, "K", 0, (1 << 19) + 1, cid)
    table[1] = ChunkRef(0, "K", (1 << 19) + 1, (1 << 19) - 1, cid)
    with pytest.raises(GhostFileError):
        check_chunk_table(table, layers)


def test_chunk_cids_match_committed_weights(small):
    for ref in small.model.ghost.header.chunks:
        matrix = small.model.layers[ref.layer].matrix(ref.matrix)
        assert cid_matches(ref.cid, matrix[ref.first : ref.first + ref.count].tobytes())


# ---------------------------------------------------------------- one-form rules


def test_invalid_chunk_cid_in_another_multibase(ghost, ghost_obj):
    from multiformats import CID

    cid = ghost_obj["header"]["chunks"][0]["cid"]
    base58 = str(CID.decode(cid).set(base="base58btc"))
    tampered = _set(ghost_obj, ("header", "chunks", 0, "cid"), base58)
    assert _outcome(tampered, ghost) == REJECT


def test_invalid_ghost_file_larger_than_one_block(ghost):
    padded = ghost.to_bytes() + b" " * (1 << 20)
    with pytest.raises(GhostFileError, match="1 MiB"):
        parse_ghost(padded)


def test_invalid_layer_root_opening_for_a_layer_outside_the_model(ghost):
    opening = ghost.open_layer_root(0, "K")
    outside = LayerRootOpening(
        layer=len(ghost.roots),
        matrix="K",
        root=opening.root,
        header_hash=opening.header_hash,
        n_layers=opening.n_layers,
        proof=opening.proof,
    )
    with pytest.raises(MultiproofError, match="outside"):
        outside.ghost_root()
