"""Command line: `coolchic SUBCOMMAND ...` (also `python -m coolchic`).

Every failure the user can cause (bad file, bad flag value, corrupt stream) prints one line on
stderr and exits with a non-zero code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

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
    from coolchic.io.files import atomic_write

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


def _image_preset(name: str | None):
    from coolchic.presets import get_preset

    preset = get_preset(name or "c3-kodak")
    if preset.config.is_video:
        raise CLIError(f"preset {preset.name!r} is a video preset; the input is an image")
    return preset


def cmd_fit(args) -> int:
    from coolchic.api.image import fit_image
    from coolchic.io.image import read_image, write_image
    from coolchic.io.video import is_video_path

    if is_video_path(args.image):
        raise CLIError("fit works on images; use `coolchic encode` for videos")
    preset = _image_preset(args.preset)
    if args.save_reconstruction:
        _check_output(args.save_reconstruction, [args.image], args.force)
    img = read_image(args.image)
    steps = args.steps or preset.steps
    _, report = fit_image(img, preset.config, lmbda=args.lmbda, steps=steps, recipe=args.recipe, seed=args.seed,
                          candidates=args.candidates, adaptive=args.adaptive, progress=not args.quiet,
                          checkpoint_dir=args.checkpoint, **_pruning(args))
    rec = report.pop("_reconstruction")
    report.update(preset=preset.name, image=os.path.abspath(args.image))
    _print_report(report, ["bpp_estimated", "bpp_latents", "bpp_weights_estimated", "psnr", "macs_per_pixel",
                           "steps", "fit_seconds"])
    print(f"{'':>16}  (weights: {report['weights_estimate']})")
    if args.save_reconstruction:
        write_image(args.save_reconstruction, rec.transpose(1, 2, 0), img.bit_depth, force=True)
    _write_json(args.json, report)
    return 0


def _pruning(args) -> dict:
    """--prune-after / --keep as fit_image arguments, checked against --candidates."""
    if args.prune_after is None:
        if args.keep is not None:
            raise CLIError("--keep goes with --prune-after")
        return {}
    keep = 1 if args.keep is None else args.keep
    if not keep < args.candidates:
        raise CLIError(f"--prune-after needs more --candidates ({args.candidates}) than it keeps ({keep})")
    return {"prune_after": args.prune_after, "keep": keep}


def _check_output(out: str, inputs: list, force: bool) -> None:
    for i in inputs:
        if os.path.exists(i) and os.path.exists(out) and os.path.samefile(i, out):
            raise CLIError(f"refusing to overwrite the input {i}")
    if os.path.exists(out) and not force:
        raise CLIError(f"{out} exists (use --force to overwrite)")
    d = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(d):
        raise CLIError(f"output directory {d} does not exist")


# ----------------------------------------------------------------------------- encode / decode / info


def cmd_encode(args) -> int:
    from coolchic.api.image import encode_image
    from coolchic.io.image import read_image
    from coolchic.io.video import is_video_path

    if is_video_path(args.input):
        from coolchic.cli import video as cli_video

        return cli_video.encode(args)
    if args.size or args.frames or args.patch or args.offset_steps is not None:
        raise CLIError("--size, --frames, --patch and --offset-steps apply to videos only")
    preset = _image_preset(args.preset)
    _check_output(args.output, [args.input], args.force)
    img = read_image(args.input)
    steps = args.steps or preset.steps
    data, report = encode_image(img, preset.config, lmbda=args.lmbda, steps=steps, recipe=args.recipe,
                                seed=args.seed, candidates=args.candidates, adaptive=args.adaptive,
                                progress=not args.quiet, checkpoint_dir=args.checkpoint, **_pruning(args))
    report.pop("_reconstruction")
    _save_stream(args, data, report, preset.name, ["bpp", "bpp_estimated", "psnr", "ms_ssim", "macs_per_pixel",
                                                   "bytes", "steps", "encode_seconds"])
    print(f"{'bytes_by_part':>16}: {report['bytes_by_part']}")
    _write_json(args.json, report)
    return 0


def _save_stream(args, data: bytes, report: dict, preset: str, keys: list) -> None:
    """Write the encoded stream atomically, complete the report and print its main keys."""
    from coolchic.io.files import atomic_write

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(args.output, write, force=True)
    report.update(preset=preset, input=os.path.abspath(args.input), output=os.path.abspath(args.output))
    _print_report(report, keys)


def _read_stream(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CLIError(f"{path}: cannot read ({e.strerror})") from None


def cmd_decode(args) -> int:
    from coolchic.coding.image_codec import decode
    from coolchic.io.image import write_image
    from coolchic.coding.video_codec import is_video_stream

    data = _read_stream(args.input)
    if is_video_stream(data):
        from coolchic.cli import video as cli_video

        if os.path.exists(args.output) and os.path.samefile(args.output, args.input):
            raise CLIError(f"refusing to overwrite the input {args.input}")
        return cli_video.decode(args, data)
    _check_output(args.output, [args.input], args.force)
    if os.path.splitext(args.output)[1].lower() in (".y4m", ".yuv", ".gif"):
        raise CLIError(f"{args.input} holds an image; decode it to .png, .ppm or .pgm")
    rec, header, info = decode(data)
    write_image(args.output, rec.transpose(1, 2, 0), header.bit_depth, force=True)
    report = {"decode_seconds": info["decode_seconds"], "height": header.height, "width": header.width,
              "frames": 1, "channels": header.channels, "bit_depth": header.bit_depth,
              "output": os.path.abspath(args.output), **{k: v for k, v in info.items() if k != "decode_seconds"}}
    _print_report(report, ["height", "width", "channels", "bit_depth", "decode_seconds"])
    _write_json(args.json, report)
    return 0


def cmd_info(args) -> int:
    from coolchic.coding.image_format import unpack
    from coolchic.model.macs import macs_per_pixel

    from coolchic.coding.video_codec import is_video_stream

    data = _read_stream(args.input)
    if is_video_stream(data):
        from coolchic.cli import video as cli_video

        return cli_video.info(args, data)
    header, _, _, parts = unpack(data)
    c = header.config
    n = header.height * header.width
    info = {
        "file": os.path.abspath(args.input),
        "bytes": len(data),
        "bpp": 8.0 * len(data) / n,
        "bytes_by_part": parts,
        "height": header.height, "width": header.width, "channels": header.channels, "bit_depth": header.bit_depth,
        "architecture": c.to_dict(),
        "quantization_steps": {m: [2.0 ** -k for k in ks] for m, ks in header.steps.items()},
        "macs_per_pixel": macs_per_pixel(c, header.height, header.width),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{args.input}: {len(data)} bytes, {info['bpp']:.4f} bpp, {header.width}x{header.height}, "
          f"{header.channels} channel(s), {header.bit_depth}-bit")
    print(f"  bytes by part: {parts}")
    print(f"  grids {c.n_grids}, ARM context {len(c.context)} -> {list(c.arm_hidden)} -> 2, upsampling {c.upsampling}, "
          f"synthesis {list(c.synth_hidden)} + {c.synth_convs} residual convs")
    print("  quantization steps (weights, biases): " + ", ".join(
        f"{m} 2^-{k[0]}, 2^-{k[1]}" for m, k in header.steps.items()))
    m = info["macs_per_pixel"]
    print(f"  MACs/pixel (C3 convention): arm {m['arm']:.0f}, upsampling {m['upsampling']:.0f}, "
          f"synthesis {m['synthesis']:.0f}, total {m['total']:.0f}")
    return 0


# ----------------------------------------------------------------------------- macs


def cmd_macs(args) -> int:
    from coolchic.model.macs import format_table, macs_per_pixel
    from coolchic.presets import get_preset

    preset = get_preset(args.preset)
    if preset.config.is_video:
        from coolchic.model.macs import video_macs_per_pixel

        print(f"preset {args.preset}: {preset.description}; video {args.frames}x{args.height}x{args.width}")
        print(format_table(preset.config, args.height, args.width, args.frames))
        if args.json:
            _write_json(args.json, {c: video_macs_per_pixel(preset.config, args.frames, args.height, args.width, c)
                                    for c in ("c3", "exact")})
        return 0
    print(f"preset {args.preset}: {preset.description}; image {args.height}x{args.width}")
    print(format_table(preset.config, args.height, args.width))
    if args.json:
        _write_json(args.json, {c: macs_per_pixel(preset.config, args.height, args.width, c) for c in ("c3", "full")})
    return 0


# ----------------------------------------------------------------------------- demo


def cmd_demo_video(args) -> int:
    import dataclasses
    import time

    from coolchic.presets import get_preset
    from coolchic.api.video import encode_video
    from coolchic.coding.video_codec import decode as decode_video
    from coolchic.io.video import read_video, sample_video_path

    video = read_video(sample_video_path())
    t, h, w, _ = video.frames.shape
    config = dataclasses.replace(get_preset("video-fast").config, patch=(0, 0, 0))  # one patch: all frames
    print(f"demo: encoding scikit-image's no_time_for_that_tiny.gif ({t} frames of {w}x{h}), preset video-fast "
          f"(one patch), {args.steps} steps, lambda {args.lmbda:g}")
    data, report = encode_video(video, config, lmbda=args.lmbda, steps=args.steps, progress=True)
    t0 = time.perf_counter()
    frames, _, _ = decode_video(bytes(data))
    dt = time.perf_counter() - t0
    same = bool(np.array_equal(frames, report["reconstruction"]))
    _print_report(report, ["bpp", "bpp_estimated", "psnr", "macs_per_pixel", "bytes", "patches", "encode_seconds"])
    print(f"{'decode_seconds':>16}: {dt:.4f}")
    print(f"{'decoded == enc':>16}: {same}")
    return 0 if same else 1


def cmd_demo(args) -> int:
    import tempfile
    import time

    if args.video:
        return cmd_demo_video(args)

    from coolchic.api.image import encode_image
    from coolchic.coding.image_codec import decode
    from coolchic.io.image import Image, read_image, sample_image_path
    from coolchic.presets import get_preset

    img = read_image(sample_image_path(args.image))
    if args.crop:
        img = Image(img.pixels[: args.crop, : args.crop], img.bit_depth)
    print(f"demo: encoding scikit-image's {args.image}.png ({img.width}x{img.height} crop), preset c3-kodak, "
          f"{args.steps} steps, lambda {args.lmbda:g}")
    data, report = encode_image(img, get_preset("c3-kodak").config, lmbda=args.lmbda, steps=args.steps, progress=True)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "demo.cool")
        with open(path, "wb") as f:
            f.write(data)
        t = time.perf_counter()
        with open(path, "rb") as f:
            rec, _, _ = decode(f.read())
        dt = time.perf_counter() - t
    same = bool(np.array_equal(rec.transpose(1, 2, 0), report["_reconstruction"]))
    _print_report(report, ["bpp", "bpp_estimated", "psnr", "macs_per_pixel", "bytes", "encode_seconds"])
    print(f"{'decode_seconds':>16}: {dt:.4f}")
    print(f"{'decoded == enc':>16}: {same}")
    return 0 if same else 1


# ----------------------------------------------------------------------------- parser


def _add_fit_args(p: argparse.ArgumentParser) -> None:
    from coolchic.presets import PRESETS

    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="default: c3-kodak for images, c3-video for videos")
    p.add_argument("--recipe", default="c3", choices=["coolchic", "c3"])
    p.add_argument("--lmbda", type=_positive_float, default=1e-3)
    p.add_argument("--steps", type=_positive_int, default=None, help="default: the preset's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--candidates", type=_positive_int, default=1,
                   help="fit N seeds and keep the best RD cost (CPU: concurrent fits; GPU: one vmapped loop)")
    p.add_argument("--prune-after", type=_positive_int, metavar="STEPS",
                   help="early pruning: after STEPS steps only the --keep best candidates go on")
    p.add_argument("--keep", type=_positive_int, help="candidates kept by --prune-after (default 1)")
    p.add_argument("--adaptive", action="store_true",
                   help="also try C3-style alternative architectures (each with its --candidates seeds)")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint the fit here and resume from it")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from coolchic.presets import PRESETS

    p = argparse.ArgumentParser(
        prog="coolchic", description="Overfitted neural image codecs (Cool-chic, C3) in JAX.",
        epilog="fit, encode, demo and eval keep compiled steps in a persistent cache (~/.cache/coolchic/jax; "
               "COOLCHIC_COMPILE_CACHE=DIR moves it, =0 turns it off).")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="fit an image and report estimated rate, PSNR and MACs/pixel")
    f.add_argument("image")
    _add_fit_args(f)
    f.add_argument("--save-reconstruction", metavar="OUT.png")
    f.set_defaults(func=cmd_fit)

    e = sub.add_parser("encode", help="fit an image and write a .cool bitstream")
    e.add_argument("input", help="PNG or PPM/PGM (8/16-bit, gray/RGB; opaque RGBA is coded as RGB), or a video: "
                                  ".y4m (8-bit 4:2:0/4:4:4), raw 4:2:0 .yuv with --size, a folder of PNG frames, .gif")
    e.add_argument("-o", "--output", required=True)
    _add_fit_args(e)
    e.add_argument("--size", metavar="WxH", help="frame size of a raw .yuv input")
    e.add_argument("--frames", type=_positive_int, help="code only the first N frames of a video")
    e.add_argument("--patch", type=int, nargs=3, metavar=("T", "H", "W"),
                   help="video patch size (0 = whole dimension); default: the preset's")
    e.add_argument("--offset-steps", type=int, default=None, metavar="N",
                   help="video: steps of the pre-fit that places the previous-frame windows (default 10%% of "
                        "--steps; 0: centred windows, no pre-fit)")
    e.set_defaults(func=cmd_encode)

    dd = sub.add_parser("decode", help="decode a .cool bitstream to PNG/PPM (images) or .y4m/.yuv/.gif/a folder (videos)")
    dd.add_argument("input")
    dd.add_argument("-o", "--output", required=True)
    dd.add_argument("--json")
    dd.add_argument("--force", action="store_true")
    dd.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="header, per-part byte counts and MACs/pixel of a .cool file")
    i.add_argument("input")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_info)

    m = sub.add_parser("macs", help="per-module MACs/pixel of a preset")
    m.add_argument("--preset", default="c3-kodak", choices=sorted(PRESETS))
    m.add_argument("--height", type=_positive_int, default=512)
    m.add_argument("--width", type=_positive_int, default=768)
    m.add_argument("--frames", type=_positive_int, default=30, help="frames (video presets)")
    m.add_argument("--json")
    m.set_defaults(func=cmd_macs)

    d = sub.add_parser("demo", help="fit an image (or, with --video, a GIF) bundled with scikit-image")
    d.add_argument("--image", default="astronaut")
    d.add_argument("--video", action="store_true", help="code scikit-image's tiny animated GIF instead")
    d.add_argument("--steps", type=_positive_int, default=1000)
    d.add_argument("--lmbda", type=_positive_float, default=2e-3)
    d.add_argument("--crop", type=_positive_int, default=256)
    d.set_defaults(func=cmd_demo)

    from coolchic.cli.curves import add_parsers

    add_parsers(sub)

    from coolchic.evaluation.runner import add_parser as add_eval_parser

    add_eval_parser(sub)
    return p


# Commands that compile fitting steps, and so use the persistent compilation cache.
COMPILING_COMMANDS = {"fit", "encode", "demo", "eval"}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from coolchic.evaluation.anchors import CurveError
    from coolchic.coding.image_format import BitstreamError
    from coolchic.io.image import ImageError

    import warnings

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"coolchic {args.command}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show_warning
    if args.command in COMPILING_COMMANDS:
        from coolchic.fitting.compile_cache import enable

        enable()
    try:
        return int(args.func(args) or 0)
    except (CLIError, ImageError, CurveError, BitstreamError, FileExistsError, FileNotFoundError, ValueError) as e:
        msg = str(e) if not isinstance(e, (FileNotFoundError,)) else f"{e.filename}: no such file"
        print(f"coolchic {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
