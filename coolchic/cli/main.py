"""The parser of `coolchic SUBCOMMAND ...` (also `python -m coolchic`) and the one error handler.

Every failure the user can cause (bad file, bad flag value, corrupt stream) prints one line on
stderr and exits with a non-zero code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import coolchic.cli.curves as curves
import coolchic.cli.demo as demo
import coolchic.cli.evaluate as evaluate
from coolchic.cli.image import cmd_decode, cmd_encode, cmd_fit, cmd_info, cmd_macs
from coolchic.cli.options import EXIT_ERROR, CLIError, add_fit_args, add_preset_arg, add_yuv_args, positive_int
from coolchic.coding.errors import BitstreamError
from coolchic.evaluation.anchors import CurveError
from coolchic.fitting import compile_cache
from coolchic.io.image import ImageError

# Commands that compile fitting steps, and so use the persistent compilation cache.
COMPILING_COMMANDS = {"fit", "encode", "demo", "eval"}


def _add_codec_parsers(sub) -> None:
    f = sub.add_parser("fit", help="fit an image and report estimated rate, PSNR and MACs/pixel")
    f.add_argument("image", help="PNG or PPM/PGM, or a one-frame raw .yuv")
    add_fit_args(f)
    add_yuv_args(f)
    f.add_argument("--save-reconstruction", metavar="OUT.png|OUT.yuv")
    f.set_defaults(func=cmd_fit)

    e = sub.add_parser("encode", help="fit an image and write a .cool bitstream")
    e.add_argument(
        "input",
        help="PNG or PPM/PGM (8/16-bit, gray/RGB; opaque RGBA is coded as RGB), a one-frame raw .yuv "
        "(coded as YUV, 4:2:0 or 4:4:4, 8..16-bit), or a video: .y4m (8-bit 4:2:0/4:4:4), raw 8-bit "
        "4:2:0 .yuv of several frames, a folder of PNG frames, .gif",
    )
    e.add_argument("-o", "--output", required=True)
    add_fit_args(e)
    add_yuv_args(e)
    e.add_argument("--frames", type=positive_int, help="code only the first N frames of a video")
    e.add_argument(
        "--patch",
        type=int,
        nargs=3,
        metavar=("T", "H", "W"),
        help="video patch size (0 = whole dimension); default: the preset's",
    )
    e.add_argument(
        "--offset-steps",
        type=int,
        default=None,
        metavar="N",
        help="video: steps of the pre-fit that places the previous-frame windows (default 10%% of "
        "--steps; 0: centred windows, no pre-fit)",
    )
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser(
        "decode", help="decode a .cool bitstream to PNG/PPM (images) or .y4m/.yuv/.gif/a folder (videos)"
    )
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True)
    d.add_argument("--json")
    d.add_argument("--force", action="store_true")
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="header, per-part byte counts and MACs/pixel of a .cool file")
    i.add_argument("input")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser("macs", help="per-module MACs/pixel of a preset")
    add_preset_arg(m, "c3-kodak")
    m.add_argument("--height", type=positive_int, default=512)
    m.add_argument("--width", type=positive_int, default=768)
    m.add_argument("--frames", type=positive_int, default=30, help="frames (video presets)")
    m.add_argument("--json")
    m.set_defaults(func=cmd_macs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="coolchic",
        description="Overfitted neural image codecs (Cool-chic, C3) in JAX.",
        epilog="fit, encode, demo and eval keep compiled steps in a persistent cache (~/.cache/coolchic/jax; "
        "COOLCHIC_COMPILE_CACHE=DIR moves it, =0 turns it off).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    _add_codec_parsers(sub)
    demo.add_parser(sub)
    curves.add_parsers(sub)
    evaluate.add_parser(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"coolchic {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    if args.command in COMPILING_COMMANDS:
        compile_cache.enable()
    try:
        return int(args.func(args) or 0)
    except (CLIError, ImageError, CurveError, BitstreamError, FileExistsError, FileNotFoundError, ValueError) as e:
        msg = f"{e.filename}: no such file" if isinstance(e, FileNotFoundError) else str(e)
        print(f"coolchic {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
