"""Protocol constants: domain tags, matrix tags, format names, sizes. The one place for them."""

from __future__ import annotations

FORMAT_VERSION = 2
GHOST_FORMAT_PREFIX = "ghostproof/ghost/"
RESPONSE_FORMAT_PREFIX = "ghostproof/response/"
GHOST_FORMAT = f"{GHOST_FORMAT_PREFIX}{FORMAT_VERSION}"
RESPONSE_FORMAT = f"{RESPONSE_FORMAT_PREFIX}{FORMAT_VERSION}"

# Domain-separation prefixes (first byte of every hashed preimage).
TAG_LEAF = 0x00
TAG_NODE = 0x01
TAG_GHOST_ROOT = 0x03
TAG_REQUEST = 0x04
TAG_LAYER_SELECTION = 0x05
TAG_OUTPUT = 0x06

# Matrix tags inside a leaf.
MATRIX_K = 0
MATRIX_V = 1
MATRIX_NAMES = {MATRIX_K: "K", MATRIX_V: "V"}
MATRIX_TAGS = {"K": MATRIX_K, "V": MATRIX_V}

# Quantisation.
Q_SCALE = 127  # queries are quantised with this fixed scale
INT8_MAX = 127

# Leaf / node byte widths.
HASH_BYTES = 32
LEAF_PREFIX_BYTES = 1 + 2 + 1 + 4  # tag, uint16 layer, uint8 matrix, uint32 column
ZERO_HASH = bytes(32)

# Limits (bounds on anything decoded from the outside).
MAX_LAYERS = 64
MAX_COLUMNS = 1 << 32  # a column index is a uint32
MAX_DIM = 1 << 16
MAX_K = 1024
MAX_JSON_DEPTH = 64  # arrays/objects nested deeper than this are rejected before parsing

# IPFS chunks: a raw block may hold at most 1 MiB.
MAX_CHUNK_BYTES = 1 << 20

LEAF_ENCODING = "keccak256(0x00 || uint16 layer || uint8 matrix || uint32 column || int8[] column)"
