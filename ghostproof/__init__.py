"""ghostproof: verifiable inference for sparsely activated models, anchored on an EVM chain.

One import name, layered (docs/ARCHITECTURE.md): ``ghostproof.protocol`` (pure) →
``ghostproof.adapters`` (chain, storage) → ``ghostproof.prover`` / ``ghostproof.verifier``
→ ``ghostproof.cli``. In the repository each layer is a top-level folder, linked in here.
"""

__version__ = "0.2.0"
