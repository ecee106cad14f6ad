"""CLI commands for the chain: deploy, chain up, model commit (owned by the chain adapter work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, model_app: typer.Typer) -> None:
    """Add the chain commands to the top-level ``app`` and the ``model`` sub-app."""
