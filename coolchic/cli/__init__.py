"""Command line: `coolchic SUBCOMMAND ...` (also `python -m coolchic`)."""

from coolchic.cli.main import main

__all__ = ["main"]
