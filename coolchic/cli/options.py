"""What every command shares: argument types, the fitting options, output checks and reports.

Every failure the user can cause (bad file, bad flag value, corrupt stream) is raised as an
exception that `coolchic.cli.main` prints as one line on stderr with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import os

from coolchic.fitting.recipes import DEFAULT_RECIPE, RECIPES
from coolchic.io.files import write_bytes, write_json
from coolchic.model.macs import TITLES
from coolchic.presets import PRESETS, get_preset
from coolchic.reports import Report

EXIT_USAGE = 2
EXIT_ERROR = 1


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
    return v


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {s}")
    return v


def add_preset_arg(p: argparse.ArgumentParser, default: str | None, help: str | None = None) -> None:
    p.add_argument("--preset", default=default, choices=sorted(PRESETS), help=help)


def add_recipe_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES))


def add_fit_args(p: argparse.ArgumentParser) -> None:
    """The options of every command that fits (fit, encode)."""
    add_preset_arg(p, None, "default: c3-kodak for images, c3-video for videos")
    add_recipe_arg(p)
    p.add_argument("--lmbda", type=positive_float, default=1e-3)
    p.add_argument("--steps", type=positive_int, default=None, help="default: the preset's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--candidates",
        type=positive_int,
        default=1,
        help="fit N seeds and keep the best RD cost (CPU: concurrent fits; GPU: one vmapped loop)",
    )
    p.add_argument(
        "--prune-after",
        type=positive_int,
        metavar="STEPS",
        help="early pruning: after STEPS steps only the --keep best candidates go on",
    )
    p.add_argument("--keep", type=positive_int, help="candidates kept by --prune-after (default 1)")
    p.add_argument(
        "--adaptive",
        action="store_true",
        help="also try C3-style alternative architectures (each with its --candidates seeds)",
    )
    p.add_argument("--json", help="write the report here")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint the fit here and resume from it")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_yuv_args(p: argparse.ArgumentParser) -> None:
    """The layout of a raw .yuv input; a Cool-chic-style name (image_768x512_1p_yuv420_10b.yuv)
    gives any of them that are not set."""
    p.add_argument("--size", metavar="WxH", help="frame size of a raw .yuv input")
    p.add_argument("--chroma", choices=("420", "444"), help="chroma sampling of a raw .yuv input (default 420)")
    p.add_argument(
        "--bit-depth", type=int, choices=range(8, 17), metavar="8..16", help="bits per sample of a raw .yuv (default 8)"
    )


def pruning(args) -> dict:
    """--prune-after / --keep as fit_image arguments, checked against --candidates."""
    if args.prune_after is None:
        if args.keep is not None:
            raise CLIError("--keep goes with --prune-after")
        return {}
    keep = 1 if args.keep is None else args.keep
    if not keep < args.candidates:
        raise CLIError(f"--prune-after needs more --candidates ({args.candidates}) than it keeps ({keep})")
    return {"prune_after": args.prune_after, "keep": keep}


def preset_for(name: str | None, video: bool):
    """The named preset (default c3-kodak / c3-video), checked to be of the input's kind."""
    preset = get_preset(name or ("c3-video" if video else "c3-kodak"))
    if preset.config.is_video and not video:
        raise CLIError(f"preset {preset.name!r} is a video preset; the input is an image")
    if video and not preset.config.is_video:
        raise CLIError(f"preset {preset.name!r} is an image preset; for videos use c3-video, c3-uvg or video-fast")
    return preset


def check_output(out: str, inputs: list, force: bool) -> None:
    """Refuse to overwrite an input, an existing file without --force, or to write into no folder."""
    for i in inputs:
        if os.path.exists(i) and os.path.exists(out) and os.path.samefile(i, out):
            raise CLIError(f"refusing to overwrite the input {i}")
    if os.path.exists(out) and not force:
        raise CLIError(f"{out} exists (use --force to overwrite)")
    d = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(d):
        raise CLIError(f"output directory {d} does not exist")


def read_stream(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CLIError(f"{path}: cannot read ({e.strerror})") from None


def save_stream(args, data: bytes, report: Report, preset: str) -> None:
    """Write the encoded stream atomically and name the files in the report."""
    write_bytes(args.output, data, force=True)
    report.preset = preset
    report.input = os.path.abspath(args.input)
    report.output = os.path.abspath(args.output)


def print_report(report: Report | dict, keys) -> None:
    d = report.to_json() if isinstance(report, Report) else report
    for k in keys:
        if k in d:
            v = d[k]
            print(f"{k:>16}: {v:.4f}" if isinstance(v, float) else f"{k:>16}: {v}")


def write_report(path: str | None, report: Report | dict) -> None:
    """--json: the report as JSON, written atomically."""
    if path:
        write_json(path, report.to_json() if isinstance(report, Report) else report)


def print_macs_line(m: dict, convention: str = "c3") -> None:
    parts = ", ".join(f"{k} {v:.0f}" for k, v in m.items())
    print(f"  MACs/pixel ({TITLES[convention]}): {parts}")
