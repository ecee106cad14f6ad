"""The ghost file: header (architecture, leaf encoding, chunk table), layer roots, ghostRoot.

The file is the RFC 8785 canonical JSON of ``{"header": …, "roots": […]}``; a file that is
not byte-for-byte canonical is rejected, so a ghost file has one CID. ``headerHash`` is
keccak256 of the header's canonical JSON; ``layersRoot`` is the tree over the layer-root
leaves [K^0, V^0, K^1, V^1, …]; ``ghostRoot = keccak256(0x03 ‖ headerHash ‖ layersRoot)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import cached_property

import rfc8785

from .chunks import ChunkRef, check_chunk_table
from .constants import (
    GHOST_FORMAT,
    GHOST_FORMAT_PREFIX,
    LEAF_ENCODING,
    MATRIX_K,
    MATRIX_TAGS,
    MATRIX_V,
    MAX_CHUNK_BYTES,
    MAX_COLUMNS,
    MAX_DIM,
    MAX_K,
    MAX_LAYERS,
)
from .embedding import EmbeddingSpec
from .errors import GhostFileError, MultiproofError
from .formats import check_format
from .hashing import from_hex, ghost_root, keccak256, root_leaf_hash, to_hex
from .jsonlimits import load_json
from .layer import MAX_LOGIT_SCALE, logit_scale
from .merkle import build_tree, multiproof, process_multiproof, tree_depth

#: The one update rule format 2 defines (docs/PROTOCOL.md §14).
UPDATE_RULE_SGD_V1 = "sgd-v1"
#: Learning rates are unsigned 32-bit integers (their scale is the rule's).
MAX_LEARNING_RATE = (1 << 32) - 1


def _is_uint(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class UpdateRule:
    """A layer's declared training rule (header ``"update"``, docs/PROTOCOL.md §14).

    ``rule`` is ``"sgd-v1"``; ``lr_k`` and ``lr_v`` (header ``lrK``, ``lrV``) are the
    integer learning rates of the exact update arithmetic (protocol/update.py)."""

    rule: str
    lr_k: int
    lr_v: int

    def to_json(self) -> dict[str, object]:
        """The ``"update"`` object of the layer in the header."""
        return {"rule": self.rule, "lrK": self.lr_k, "lrV": self.lr_v}

    @classmethod
    def from_json(cls, obj: object, index: int) -> UpdateRule:
        """Parse a layer's ``"update"`` object; GhostFileError naming the layer otherwise."""
        if not isinstance(obj, dict) or set(obj) != {"rule", "lrK", "lrV"}:
            raise GhostFileError(f"layer {index} update must have exactly ['lrK', 'lrV', 'rule']")
        if obj["rule"] != UPDATE_RULE_SGD_V1:
            raise GhostFileError(f"layer {index} update rule {obj['rule']!r} is not supported "
                                 f"(only {UPDATE_RULE_SGD_V1!r})")
        for key in ("lrK", "lrV"):
            if not _is_uint(obj[key]) or obj[key] > MAX_LEARNING_RATE:
                raise GhostFileError(f"layer {index} update {key} must be an integer in 0..2^32-1")
        return cls(obj["rule"], obj["lrK"], obj["lrV"])


@dataclass(frozen=True)
class LayerSpec:
    """Architecture of one Hopfield lookup layer, as committed in the header.

    ``logit_scale`` (header ``logitScale``) is the integer the exact softmax uses
    (protocol/layer.py); when not given it is derived from ``beta`` and ``s_k`` once, by
    the builder. ``beta``, ``s_k`` and ``s_v`` stay committed for reference and display.
    """

    d_in: int
    d_out: int
    n: int
    k: int
    beta: float
    s_k: float
    s_v: float
    logit_scale: int = -1
    update: UpdateRule | None = None  # absent: the layer cannot be trained (§14)

    def __post_init__(self) -> None:
        if self.logit_scale == -1:
            object.__setattr__(self, "logit_scale", logit_scale(self.beta, self.s_k))

    def to_json(self) -> dict[str, object]:
        """The layer's JSON object in the header (``"update"`` only when a rule is declared,
        so a layer without one hashes as before the field existed)."""
        obj: dict[str, object] = {
            "dIn": self.d_in,
            "dOut": self.d_out,
            "n": self.n,
            "k": self.k,
            "beta": self.beta,
            "sK": self.s_k,
            "sV": self.s_v,
            "logitScale": self.logit_scale,
        }
        if self.update is not None:
            obj["update"] = self.update.to_json()
        return obj

    @classmethod
    def from_json(cls, obj: object, index: int) -> LayerSpec:
        """Parse and bound-check one layer; raise GhostFileError naming the layer otherwise."""
        keys = {"dIn", "dOut", "n", "k", "beta", "sK", "sV", "logitScale"}
        if not isinstance(obj, dict) or set(obj) - {"update"} != keys:
            raise GhostFileError(f"layer {index} must have exactly {sorted(keys)} (and optionally 'update')")
        ints = {key: obj[key] for key in ("dIn", "dOut", "n", "k")}
        for key, value in ints.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise GhostFileError(f"layer {index} {key} must be a positive integer")
        scale = obj["logitScale"]
        if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= MAX_LOGIT_SCALE:
            raise GhostFileError(f"layer {index} logitScale must be an integer in 0..2^32-1")
        floats = {key: obj[key] for key in ("beta", "sK", "sV")}
        for key, value in floats.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise GhostFileError(f"layer {index} {key} must be a number")
            if isinstance(value, int) and value.bit_length() > 1023:
                raise GhostFileError(f"layer {index} {key} is too large for a float")
            if not math.isfinite(value) or value <= 0:
                raise GhostFileError(f"layer {index} {key} must be finite and positive")
        spec = cls(
            ints["dIn"], ints["dOut"], ints["n"], ints["k"],
            float(floats["beta"]), float(floats["sK"]), float(floats["sV"]), scale,
            UpdateRule.from_json(obj["update"], index) if "update" in obj else None,
        )
        spec.check(index)
        return spec

    def check(self, index: int) -> None:
        """Raise GhostFileError if a dimension is out of the protocol's bounds."""
        if self.d_in > MAX_DIM or self.d_out > MAX_DIM:
            raise GhostFileError(f"layer {index} dimensions exceed {MAX_DIM}")
        if self.n > MAX_COLUMNS:
            raise GhostFileError(f"layer {index} has more than 2^32 columns")
        if not 1 <= self.k <= min(self.n, MAX_K):
            raise GhostFileError(f"layer {index} k must be in 1..min(n, {MAX_K})")


#: Longest accepted column-order method name (header ``"order"``).
MAX_ORDER_METHOD = 64


@dataclass(frozen=True)
class ColumnOrder:
    """How the builder ordered every layer's columns (header ``"order"``, optional).

    Informational and reproducible, not a security property: proofs and challenges use tree
    positions, whatever order put the patterns there. ``method`` names the algorithm and its
    version (e.g. ``"pca-bisection-v1"``, prover/order.py); ``seed``, ``leaf_size`` and
    ``components`` (header ``leafSize``, ``components``) are its parameters, so the same float
    patterns give the same committed columns again."""

    method: str
    seed: int
    leaf_size: int
    components: int

    def to_json(self) -> dict[str, object]:
        """The header's ``"order"`` object."""
        return {"method": self.method, "seed": self.seed, "leafSize": self.leaf_size,
                "components": self.components}

    @classmethod
    def from_json(cls, obj: object) -> ColumnOrder:
        """Parse the header's ``"order"`` object; GhostFileError on any deviation."""
        keys = {"method", "seed", "leafSize", "components"}
        if not isinstance(obj, dict) or set(obj) != keys:
            raise GhostFileError(f"header order must have exactly {sorted(keys)}")
        method = obj["method"]
        if not isinstance(method, str) or not 0 < len(method) <= MAX_ORDER_METHOD:
            raise GhostFileError(f"header order method must be a string of 1..{MAX_ORDER_METHOD} characters")
        for key in ("seed", "leafSize", "components"):
            if not _is_uint(obj[key]) or obj[key] > MAX_COLUMNS:
                raise GhostFileError(f"header order {key} must be an integer in 0..2^32")
        return cls(method, obj["seed"], obj["leafSize"], obj["components"])


@functools.lru_cache(maxsize=1 << 16)
def chunk_canonical(chunk: ChunkRef) -> bytes:
    """RFC 8785 canonical JSON of one chunk-table entry (cached: an update re-names a few)."""
    return rfc8785.dumps(chunk.to_json())


def _embedding_from_json(obj: dict, layers: tuple[LayerSpec, ...]) -> EmbeddingSpec | None:
    """The header's optional ``"embedding"`` object (docs/PROTOCOL.md §14.6), checked against
    layer 0's d_in; None when absent."""
    return EmbeddingSpec.from_json(obj["embedding"], layers[0].d_in) if "embedding" in obj else None


@dataclass(frozen=True)
class GhostHeader:
    """Everything committed about a model except its weights: architecture and chunk table.

    ``order`` (optional) records how the builder ordered the columns; a header without it
    has exactly the JSON, headerHash and ghostRoot it had before the field existed."""

    name: str
    layers: tuple[LayerSpec, ...]
    chunks: tuple[ChunkRef, ...] = ()
    format: str = GHOST_FORMAT
    leaf_encoding: str = LEAF_ENCODING
    hash: str = "keccak256"
    order: ColumnOrder | None = None
    embedding: EmbeddingSpec | None = None  # absent: no token input (docs/PROTOCOL.md §14.6)

    def to_json(self) -> dict[str, object]:
        """The header's JSON object (``"order"`` and ``"embedding"`` only when present)."""
        obj: dict[str, object] = {
            "format": self.format,
            "name": self.name,
            "hash": self.hash,
            "leafEncoding": self.leaf_encoding,
            "layers": [layer.to_json() for layer in self.layers],
            "chunks": [chunk.to_json() for chunk in self.chunks],
        }
        if self.order is not None:
            obj["order"] = self.order.to_json()
        if self.embedding is not None:
            obj["embedding"] = self.embedding.to_json()
        return obj

    def canonical(self) -> bytes:
        """RFC 8785 canonical JSON of the header.

        The chunk table (hundreds of entries at N = 10^6, re-hashed after every sparse update)
        is written entry by entry from a cache (:func:`chunk_canonical`) and spliced in:
        ``"chunks"`` sorts first among the header's keys, so the canonical text begins with
        ``{"chunks":[`` (checked against rfc8785 itself in tests)."""
        obj = self.to_json()
        obj["chunks"] = []
        rest = rfc8785.dumps(obj)
        head = b'{"chunks":['
        if not rest.startswith(head):  # never: "chunks" is the smallest key
            return rfc8785.dumps(self.to_json())
        return head + b",".join(chunk_canonical(c) for c in self.chunks) + rest[len(head):]

    @property
    def header_hash(self) -> bytes:
        """keccak256 of the header's canonical JSON."""
        return keccak256(self.canonical())

    @classmethod
    def from_json(cls, obj: object) -> GhostHeader:
        """Parse and validate a header; raise GhostFileError on any deviation."""
        keys = {"format", "name", "hash", "leafEncoding", "layers", "chunks"}
        if not isinstance(obj, dict) or set(obj) - {"order", "embedding"} != keys:
            raise GhostFileError(f"header must have exactly {sorted(keys)} "
                                 "(and optionally 'order', 'embedding')")
        check_format(obj["format"], GHOST_FORMAT_PREFIX, "ghost file", GhostFileError)
        if obj["hash"] != "keccak256" or obj["leafEncoding"] != LEAF_ENCODING:
            raise GhostFileError("unsupported hash or leaf encoding")
        if not isinstance(obj["name"], str) or len(obj["name"]) > 200:
            raise GhostFileError("header name must be a string of at most 200 characters")
        layers_obj = obj["layers"]
        if not isinstance(layers_obj, list) or not 1 <= len(layers_obj) <= MAX_LAYERS:
            raise GhostFileError(f"header must list 1..{MAX_LAYERS} layers")
        layers = tuple(LayerSpec.from_json(x, i) for i, x in enumerate(layers_obj))
        for i in range(1, len(layers)):
            if layers[i].d_in != layers[i - 1].d_out:
                raise GhostFileError(f"layer {i} dIn differs from layer {i - 1} dOut")
        if not isinstance(obj["chunks"], list):
            raise GhostFileError("header chunks must be a list")
        chunks = tuple(ChunkRef.from_json(x) for x in obj["chunks"])
        if chunks:
            check_chunk_table(list(chunks), [(x.n, x.d_in, x.d_out) for x in layers])
        order = ColumnOrder.from_json(obj["order"]) if "order" in obj else None
        embedding = _embedding_from_json(obj, layers)
        return cls(name=obj["name"], layers=layers, chunks=chunks, order=order, embedding=embedding)


@dataclass(frozen=True)
class GhostFile:
    """A header plus the (root_K, root_V) of every layer; derives headerHash and ghostRoot."""

    header: GhostHeader
    roots: tuple[tuple[bytes, bytes], ...]

    def __post_init__(self) -> None:
        if len(self.roots) != len(self.header.layers):
            raise GhostFileError(
                f"{len(self.roots)} root pairs for {len(self.header.layers)} layers"
            )

    def to_json(self) -> dict[str, object]:
        """The file's JSON object."""
        return {
            "header": self.header.to_json(),
            "roots": [{"K": to_hex(k), "V": to_hex(v)} for k, v in self.roots],
        }

    def to_bytes(self) -> bytes:
        """The file's bytes: RFC 8785 canonical JSON (the only accepted form)."""
        return rfc8785.dumps(self.to_json())

    @cached_property
    def header_hash(self) -> bytes:
        """keccak256 of the header's canonical JSON."""
        return self.header.header_hash

    def layer_root(self, layer: int, matrix: str) -> bytes:
        """root_K or root_V of ``layer``."""
        return self.roots[layer][MATRIX_TAGS[matrix]]

    def layer_root_leaves(self) -> list[bytes]:
        """Leaves of the layers tree, [K^0, V^0, K^1, V^1, …] hashed with their tags."""
        leaves = []
        for layer, (root_k, root_v) in enumerate(self.roots):
            leaves.append(root_leaf_hash(layer, MATRIX_K, root_k))
            leaves.append(root_leaf_hash(layer, MATRIX_V, root_v))
        return leaves

    @cached_property
    def layers_root(self) -> bytes:
        """Root of the layers tree."""
        return build_tree(self.layer_root_leaves()).root

    @cached_property
    def ghost_root(self) -> bytes:
        """ghostRoot = keccak256(0x03 ‖ headerHash ‖ layersRoot)."""
        return ghost_root(self.header_hash, self.layers_root)

    def open_layer_root(self, layer: int, matrix: str) -> LayerRootOpening:
        """A proof that ``layer``'s ``matrix`` root is committed under the ghostRoot."""
        position = 2 * layer + MATRIX_TAGS[matrix]
        tree = build_tree(self.layer_root_leaves())
        return LayerRootOpening(
            layer=layer,
            matrix=matrix,
            root=self.layer_root(layer, matrix),
            header_hash=self.header_hash,
            n_layers=len(self.roots),
            proof=tuple(multiproof(tree, [position])),
        )


@dataclass(frozen=True)
class LayerRootOpening:
    """A layer root and the Merkle path that binds it to a ghostRoot (checked on-chain too)."""

    layer: int
    matrix: str
    root: bytes
    header_hash: bytes
    n_layers: int
    proof: tuple[bytes, ...]

    def ghost_root(self) -> bytes:
        """The ghostRoot this opening reproduces (compare it with the anchored one).

        Raises MultiproofError for a layer outside the model or a proof of the wrong size."""
        if not 0 <= self.layer < self.n_layers <= MAX_LAYERS:
            raise MultiproofError(f"layer {self.layer} is outside a model of {self.n_layers} layers")
        leaf = root_leaf_hash(self.layer, MATRIX_TAGS[self.matrix], self.root)
        depth = tree_depth(2 * self.n_layers)
        position = 2 * self.layer + MATRIX_TAGS[self.matrix]
        layers_root = process_multiproof(depth, [position], [leaf], list(self.proof))
        return ghost_root(self.header_hash, layers_root)


def parse_ghost(data: bytes) -> GhostFile:
    """Parse ghost-file bytes; raise GhostFileError unless they are valid and canonical.

    A ghost file is one IPFS raw block, so it may not exceed 1 MiB."""
    if len(data) > MAX_CHUNK_BYTES:
        raise GhostFileError(f"ghost file is {len(data)} bytes, more than one 1 MiB block")
    obj = load_json(data, what="ghost file", max_bytes=MAX_CHUNK_BYTES, error=GhostFileError)
    if not isinstance(obj, dict) or set(obj) != {"header", "roots"}:
        raise GhostFileError("ghost file must have exactly 'header' and 'roots'")
    header = GhostHeader.from_json(obj["header"])
    roots_obj = obj["roots"]
    if not isinstance(roots_obj, list):
        raise GhostFileError("roots must be a list")
    roots = []
    for i, pair in enumerate(roots_obj):
        if not isinstance(pair, dict) or set(pair) != {"K", "V"}:
            raise GhostFileError(f"roots[{i}] must have exactly 'K' and 'V'")
        try:
            roots.append(
                (from_hex(pair["K"], f"roots[{i}].K", 32), from_hex(pair["V"], f"roots[{i}].V", 32))
            )
        except ValueError as exc:
            raise GhostFileError(str(exc)) from exc
    ghost = GhostFile(header, tuple(roots))
    if ghost.to_bytes() != bytes(data):
        raise GhostFileError("ghost file is not in RFC 8785 canonical form")
    return ghost


