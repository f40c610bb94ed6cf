"""Command line: `coolchic SUBCOMMAND ...` (also `python -m coolchic`).

Every failure the user can cause (bad file, bad flag value, corrupt stream) prints one line on
stderr and exits with a non-zero code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_USAGE = 2
EXIT_ERROR = 1


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
    return v


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {s}")
    return v


def _write_json(path: str | None, report: dict, force: bool = True) -> None:
    if not path:
        return
    from .image_io import atomic_write

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)

    atomic_write(path, write, force=force)


def _print_report(report: dict, keys) -> None:
    for k in keys:
        if k in report:
            v = report[k]
            print(f"{k:>16}: {v:.4f}" if isinstance(v, float) else f"{k:>16}: {v}")


# ----------------------------------------------------------------------------- fit


def cmd_fit(args) -> int:
    from .api import fit_image
    from .image_io import read_image, write_image
    from .presets import get_preset

    preset = get_preset(args.preset)
    if args.save_reconstruction:
        _check_output(args.save_reconstruction, [args.image], args.force)
    img = read_image(args.image)
    steps = args.steps or preset.steps
    _, report = fit_image(img, preset.config, lmbda=args.lmbda, steps=steps, recipe=args.recipe, seed=args.seed,
                          progress=not args.quiet, checkpoint_dir=args.checkpoint)
    rec = report.pop("_reconstruction")
    report.update(preset=args.preset, image=os.path.abspath(args.image))
    _print_report(report, ["bpp_estimated", "bpp_latents", "bpp_weights_estimated", "psnr", "macs_per_pixel",
                           "steps", "fit_seconds"])
    print(f"{'':>16}  (weights: {report['weights_estimate']})")
    if args.save_reconstruction:
        write_image(args.save_reconstruction, rec.transpose(1, 2, 0), img.bit_depth, force=True)
    _write_json(args.json, report)
    return 0


def _check_output(out: str, inputs: list, force: bool) -> None:
    for i in inputs:
        if os.path.exists(i) and os.path.exists(out) and os.path.samefile(i, out):
            raise CLIError(f"refusing to overwrite the input {i}")
    if os.path.exists(out) and not force:
        raise CLIError(f"{out} exists (use --force to overwrite)")
    d = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(d):
        raise CLIError(f"output directory {d} does not exist")


# ----------------------------------------------------------------------------- macs


def cmd_macs(args) -> int:
    from .macs import format_table, macs_per_pixel
    from .presets import get_preset

    preset = get_preset(args.preset)
    print(f"preset {args.preset}: {preset.description}; image {args.height}x{args.width}")
    print(format_table(preset.config, args.height, args.width))
    if args.json:
        _write_json(args.json, {c: macs_per_pixel(preset.config, args.height, args.width, c) for c in ("c3", "full")})
    return 0


# ----------------------------------------------------------------------------- demo


def cmd_demo(args) -> int:
    from .api import fit_image
    from .image_io import read_image, sample_image_path
    from .presets import get_preset

    path = sample_image_path(args.image)
    img = read_image(path)
    if args.crop:
        from .image_io import Image

        img = Image(img.pixels[: args.crop, : args.crop], img.bit_depth)
    print(f"demo: fitting scikit-image's {args.image}.png ({img.width}x{img.height}) for {args.steps} steps")
    _, report = fit_image(img, get_preset("c3-kodak").config, lmbda=args.lmbda, steps=args.steps,
                          recipe="coolchic", progress=True)
    report.pop("_reconstruction")
    _print_report(report, ["bpp_estimated", "psnr", "macs_per_pixel", "steps", "fit_seconds"])
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from .presets import PRESETS

    p = argparse.ArgumentParser(prog="coolchic", description="Overfitted neural image codecs (Cool-chic, C3) in JAX.")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit an image and report estimated rate, PSNR and MACs/pixel")
    f.add_argument("image")
    f.add_argument("--preset", default="c3-kodak", choices=sorted(PRESETS))
    f.add_argument("--recipe", default="coolchic", choices=["coolchic", "c3"])
    f.add_argument("--lmbda", type=_positive_float, default=1e-3)
    f.add_argument("--steps", type=_positive_int, default=None, help="default: the preset's")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--json", help="write the report here")
    f.add_argument("--save-reconstruction", metavar="OUT.png")
    f.add_argument("--checkpoint", metavar="DIR", help="checkpoint here and resume from it")
    f.add_argument("--force", action="store_true", help="overwrite existing outputs")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    f.set_defaults(func=cmd_fit)

    m = sub.add_parser("macs", help="per-module MACs/pixel of a preset")
    m.add_argument("--preset", default="c3-kodak", choices=sorted(PRESETS))
    m.add_argument("--height", type=_positive_int, default=512)
    m.add_argument("--width", type=_positive_int, default=768)
    m.add_argument("--json")
    m.set_defaults(func=cmd_macs)

    d = sub.add_parser("demo", help="fit an image bundled with scikit-image")
    d.add_argument("--image", default="astronaut")
    d.add_argument("--steps", type=_positive_int, default=300)
    d.add_argument("--lmbda", type=_positive_float, default=1e-3)
    d.add_argument("--crop", type=_positive_int, default=256)
    d.set_defaults(func=cmd_demo)

    from .cli_curves import add_parsers

    add_parsers(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .anchors import CurveError
    from .image_io import ImageError

    try:
        return int(args.func(args) or 0)
    except (CLIError, ImageError, CurveError, FileExistsError, FileNotFoundError, ValueError) as e:
        msg = str(e) if not isinstance(e, (FileNotFoundError,)) else f"{e.filename}: no such file"
        print(f"coolchic {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
