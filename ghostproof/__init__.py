"""The ghostproof application layer: CLI, demo, and the adapters to chains and IPFS stores."""
