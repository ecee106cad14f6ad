"""The prover: build and commit a model, index it, and prove forward passes."""
