"""Write the committed sample answer examples/digits/: answer.json, ghost.json, request.json, root.txt.

Reproducible: the digits model is seeded, the search exact, the nonce and the prover's dev key
fixed (the key is public: it signs this example only), so a re-run writes the same bytes while
the protocol stays the same. A wallet checks the answer with the light install alone:

    ghostproof verify examples/digits/answer.json --ghost examples/digits/ghost.json \\
        --request examples/digits/request.json --root "$(cat examples/digits/root.txt)"

Needs the prover extra. tests/test_example.py checks the committed files are current;
scripts/check_wheel.py verifies them from an installed wheel.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from eth_utils import keccak

from ghostproof.adapters.storage.answers import write_request, write_response
from ghostproof.adapters.storage.layout import GHOST_FILE
from ghostproof.protocol.hashing import to_hex
from ghostproof.prover.modeldir import make_prover, write_model_dir
from ghostproof.prover.presets import DIGITS_K, digits_model

OUT_DIR = Path(__file__).resolve().parents[1] / "examples" / "digits"
SAMPLE = 3
SEED = 0
NONCE = keccak(b"ghostproof examples/digits nonce")
DEV_PROVER_KEY = keccak(b"ghostproof examples/digits dev prover key (public: never hold funds)")


def make_example(out_dir: Path = OUT_DIR) -> str:
    """Build the seeded digits model, prove held-out sample SAMPLE with the fixed nonce and
    key, and write answer.json, ghost.json, request.json and root.txt into ``out_dir``.
    Returns the ghostRoot (0x…)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ghostproof-example-") as tmp:
        md = write_model_dir(Path(tmp) / "digits", digits_model(k=DIGITS_K, seed=SEED), index=False)
        prover = make_prover(md, exact=True, private_key=DEV_PROVER_KEY)
        response = prover.prove(md.sample(SAMPLE), NONCE)
        write_response(out_dir / "answer.json", response)
        write_request(out_dir / "request.json", response.request)
        shutil.copyfile(md.path / GHOST_FILE, out_dir / GHOST_FILE)
    root = to_hex(md.ghost.ghost_root)
    (out_dir / "root.txt").write_text(root + "\n", encoding="utf-8")
    return root


def main() -> None:
    """Write the example (default: examples/digits/) and print its ghostRoot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=OUT_DIR, help="Output folder.")
    args = parser.parse_args()
    root = make_example(args.out)
    print(f"{args.out}: ghostRoot {root}")


if __name__ == "__main__":
    main()
