"""The ``ghostproof`` command line: each command parses, calls one function of a role
(prover, verifier) or adapter, and renders the result; errors map to exit codes through
``ghostproof.protocol.errors``."""
