"""The contract artifacts (ABI, bytecode) shipped in the package, and decoding of custom-error reverts.

Used by every chain client. The artifacts are package data, read through importlib.resources
(``ghostproof/contracts/artifacts/NAME.json``: in a checkout the ``contracts`` link, in an
installed wheel the copied files), so an installed ghostproof deploys and decodes without a
checkout; scripts/compile_contracts.py (adapters/chain/compile.py) writes them.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from ghostproof.protocol.errors import DeploymentError

DEPLOYABLE = ("GhostCredit", "GhostRegistry", "CreditEscrow", "GhostAttestations")


def artifacts_dir() -> Traversable:
    """The package's folder of contract artifacts (``ghostproof/contracts/artifacts``)."""
    return resources.files("ghostproof") / "contracts" / "artifacts"


@cache
def load_artifact(name: str) -> dict[str, object]:
    """The shipped artifact of contract ``name`` (one of DEPLOYABLE): ``{"abi", "bytecode", …}``.

    Raises DeploymentError for another name, or when the artifact is missing or unreadable.
    """
    if name not in DEPLOYABLE:
        raise DeploymentError(f"unknown contract {name!r}")
    path = artifacts_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeploymentError(f"contract artifact {path} is missing: {exc.strerror}") from exc
    except ValueError as exc:
        raise DeploymentError(f"contract artifact {path} is not valid JSON: {exc}") from exc


def _signature(item: dict[str, object]) -> str:
    def typ(inp: dict[str, object]) -> str:
        t = str(inp["type"])
        if t.startswith("tuple"):
            inner = ",".join(typ(c) for c in inp["components"])  # type: ignore[union-attr]
            return f"({inner}){t[5:]}"
        return t

    return f"{item['name']}(" + ",".join(typ(i) for i in item["inputs"]) + ")"  # type: ignore[union-attr]


@cache
def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    table: dict[bytes, tuple[str, list[str]]] = {
        keccak(text="Error(string)")[:4]: ("Error", ["string"]),
        keccak(text="Panic(uint256)")[:4]: ("Panic", ["uint256"]),
    }
    for name in DEPLOYABLE:
        for item in load_artifact(name)["abi"]:  # type: ignore[union-attr]
            if item["type"] == "error":
                sig = _signature(item)
                types = sig[sig.index("(") + 1 : -1]
                table[keccak(text=sig)[:4]] = (str(item["name"]), types.split(",") if types else [])
    return table


def decode_revert(data: bytes) -> tuple[str, tuple[object, ...]] | None:
    """Decode revert data into (error name, argument values), or None if unrecognised."""
    if len(data) < 4:
        return None
    entry = _error_table().get(bytes(data[:4]))
    if entry is None:
        return None
    name, types = entry
    try:
        values = decode(types, bytes(data[4:]))
    except Exception:  # eth-abi raises several types on malformed data
        return None
    return name, tuple(
        to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)
    )


def revert_data_of(exc: BaseException) -> bytes | None:
    """The revert data carried by a web3 / eth-tester exception, or by the exceptions it was
    raised from (web3's eth-tester provider decodes every revert as Error(string) and can fail
    with an OverflowError on a custom error's data, losing it from the outer exception)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        data = _own_revert_data(seen)
        if data is not None:
            return data
        seen = seen.__cause__ or seen.__context__
    return None


def _own_revert_data(exc: BaseException) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if isinstance(data, bytes):
        return data
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, bytes):
            return arg
        if isinstance(arg, str) and arg.startswith("execution reverted: b"):
            try:
                value = ast.literal_eval(arg[len("execution reverted: ") :])
            except (ValueError, SyntaxError):
                return None
            return value if isinstance(value, bytes) else None
    return None
