"""`forvarv notifications …`: filled in by the e-mail feature."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `notifications` subcommands."""
