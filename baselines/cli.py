"""``python -m baselines`` command line: one sub-command per task.

Sub-commands register themselves in :data:`COMMANDS` via :func:`command`
(``parity``, ``macs`` now; ``train``/``compress``/``decompress`` later). Bad
input (missing file, unknown model, invalid sizes) prints one ``error:`` line on
stderr and exits 2; a failed parity check exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Dict, Optional, Sequence

__all__ = ["main", "build_parser", "COMMANDS", "UsageError"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad user input: reported as one line, exit status 2."""


COMMANDS: Dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def command(name: str):
    """Register ``fn(subparsers)`` that adds sub-command ``name`` (sets ``func`` default)."""

    def deco(fn):
        COMMANDS[name] = fn
        return fn

    return deco


@command("parity")
def _add_parity(sub):
    p = sub.add_parser("parity", help="compare a port with a CompressAI fixture (.npz)")
    p.add_argument("fixture", help="FIXTURE.npz named after the model (index.json beside it)")
    p.add_argument("--tol", type=float, default=1e-4, help="max abs / relative error (default 1e-4)")
    p.set_defaults(func=_run_parity)


def _run_parity(args) -> int:
    from .parity import parity_report

    try:
        report = parity_report(args.fixture, tol=args.tol)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise UsageError(_msg(e)) from None
    print(json.dumps(report, indent=1))
    return EXIT_OK if report["pass"] else EXIT_FAIL


@command("macs")
def _add_macs(sub):
    from .models import MODELS

    p = sub.add_parser("macs", help="per-module MACs/pixel table of a baseline")
    p.add_argument("--model", required=True, help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--quality", type=int, default=1, help="CompressAI zoo quality for N/M (default 1)")
    p.add_argument("--N", type=int, default=None, help="override N")
    p.add_argument("--M", type=int, default=None, help="override M (not for cheng2020)")
    p.add_argument("--head", choices=("gaussian", "gmm"), default=None, help="entropy head (mbt2018/cheng2020)")
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_macs)


def _run_macs(args) -> int:
    from .macs import format_table, macs_table

    if args.head is not None and args.model not in ("mbt2018", "cheng2020-anchor", "cheng2020-attn"):
        raise UsageError(f"--head applies to mbt2018 and cheng2020 models, not {args.model}")
    try:
        t = macs_table(args.model, args.height, args.width, args.quality, N=args.N, M=args.M, head=args.head)
    except (KeyError, ValueError, TypeError) as e:
        raise UsageError(_msg(e)) from None
    print(json.dumps(t, indent=1) if args.json else format_table(t))
    return EXIT_OK


def _msg(e: BaseException) -> str:
    s = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return " ".join(str(s).split())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m baselines",
        description="Flax ports of CompressAI's learned image codecs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
