"""``python -m baselines`` command line: one sub-command per task.

Sub-commands register themselves in :data:`COMMANDS` via :func:`command`
(``parity``, ``macs``, ``train``, ``compress``, ``decompress``). Bad input
(missing file, unknown model, invalid sizes, a malformed bitstream, an output
that exists without ``--force``) prints one ``error:`` line on stderr and exits
2; a failed parity check exits 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence

__all__ = ["main", "build_parser", "COMMANDS", "UsageError"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad user input: reported as one line, exit status 2."""


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


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


@command("train")
def _add_train(sub):
    from .models import MODELS

    p = sub.add_parser("train", help="train a baseline on random crops of a folder of images")
    p.add_argument("--model", required=True, help=f"one of: {', '.join(MODELS)}")
    p.add_argument("--data", required=True, help="folder of PNG images")
    p.add_argument("--lmbda", type=float, required=True, help="loss = lmbda * 255^2 * MSE + bpp")
    p.add_argument("--steps", type=int, required=True, help="total steps (a resumed run counts from 0)")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--aux-lr", type=float, default=1e-3, help="Adam lr of the bottleneck quantiles")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clip of the main loss (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument("--head", choices=("gaussian", "gmm"), default=None, help="entropy head (mbt2018/cheng2020)")
    p.add_argument("--quality", type=int, default=1, help="zoo quality giving N/M (default 1)")
    p.add_argument("--N", type=int, default=None)
    p.add_argument("--M", type=int, default=None)
    p.add_argument("--save-every", type=int, default=1000, help="checkpoint period in steps")
    p.add_argument("--steps-per-call", type=int, default=10, help="steps per compiled call (lax.scan)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from .train import train

    try:
        r = train(
            args.model,
            args.data,
            args.lmbda,
            args.steps,
            args.out,
            crop=args.crop,
            batch=args.batch,
            lr=args.lr,
            aux_lr=args.aux_lr,
            clip=args.clip or None,
            seed=args.seed,
            resume=args.resume,
            head=args.head,
            N=args.N,
            M=args.M,
            quality=args.quality,
            save_every=args.save_every,
            steps_per_call=args.steps_per_call,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise UsageError(_msg(e)) from None
    summary = {"out": r["out"], "start_step": r["start_step"], "step": r["step"], "seconds": round(r["seconds"], 3)}
    if r["history"]:
        _, loss, bpp, mse, aux = r["history"][-1]
        summary.update(loss=loss, bpp=bpp, psnr=float(-10 * math.log10(max(mse, 1e-12))), aux_loss=aux)
    print(json.dumps(summary, indent=1))
    return EXIT_OK


def _add_weights(p, required_model: bool):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ckpt", help="training checkpoint folder (python -m baselines train --out)")
    g.add_argument("--fixture", help="CompressAI fixture FILE.npz (weights from its sd/* arrays)")
    if required_model:
        p.add_argument("--model", default=None, help="model name (checked against the weights)")
    p.add_argument("--json", default=None, help="also write the report to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs (and the input)")


@command("compress")
def _add_compress(sub):
    p = sub.add_parser("compress", help="code an image into a bitstream")
    p.add_argument("input", help="PNG/PPM image")
    p.add_argument("-o", "--output", required=True, help="bitstream file")
    _add_weights(p, True)
    p.set_defaults(func=_run_compress)


@command("decompress")
def _add_decompress(sub):
    p = sub.add_parser("decompress", help="decode a bitstream into a PNG/PPM image")
    p.add_argument("input", help="bitstream file")
    p.add_argument("-o", "--output", required=True, help="PNG (or .ppm/.pgm) image")
    _add_weights(p, False)
    p.set_defaults(func=_run_decompress)


def _check_outputs(args):
    for path in (args.output, args.json):
        if path is None:
            continue
        if (
            os.path.exists(args.input)
            and os.path.exists(path)
            and os.path.samefile(path, args.input)
            and not args.force
        ):
            raise UsageError(f"{path} is the input; refusing to overwrite it (use --force)")
        if os.path.exists(path) and not args.force:
            raise UsageError(f"{path} exists (use --force to overwrite)")
    if args.ckpt is None and args.fixture is None:
        raise UsageError("the weights are needed: give --ckpt DIR or --fixture FILE.npz")


def _load_codec(args, model=None):
    from .coding import load_codec

    try:
        return load_codec(args.ckpt, args.fixture, model)
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise UsageError(_msg(e)) from None


def _public(path: str) -> None:
    """``atomic_write``'s temporary files are 0600; give outputs the usual umask-based mode."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _report(args, report: dict):
    from coolchic.io.files import atomic_write

    text = json.dumps(report, indent=1)
    print(text)
    if args.json:

        def w(tmp):
            with open(tmp, "w") as f:
                f.write(text + "\n")
            _public(tmp)

        atomic_write(args.json, w, force=True)


def _run_compress(args) -> int:
    import numpy as np

    from coolchic.evaluation.metrics import psnr
    from coolchic.io.files import atomic_write
    from coolchic.io.image import ImageError, read_image, to_integers

    _check_outputs(args)
    try:
        img = read_image(args.input)
    except ImageError as e:
        raise UsageError(_msg(e)) from None
    from . import coding

    codec = _load_codec(args, args.model)
    t0 = time.perf_counter()
    try:
        data, info = codec.compress(img.pixels, img.bit_depth)
    except ValueError as e:
        raise UsageError(_msg(e)) from None
    seconds = time.perf_counter() - t0

    def w(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
        _public(tmp)

    atomic_write(args.output, w, force=True)
    est = codec.estimate(img.pixels)
    pixels = img.height * img.width
    maxval = (1 << img.bit_depth) - 1
    decoded = to_integers(info["x_hat"], img.bit_depth).astype(np.float32) / maxval
    _report(
        args,
        {
            "model": codec.name,
            "head": codec.head,
            "input": args.input,
            "output": args.output,
            "height": img.height,
            "width": img.width,
            "bytes": len(data),
            "bpp": len(data) * 8 / pixels,
            "bpp_estimated": coding.coded_bits(est, info) / pixels,
            "bpp_estimated_forward": (est["bits_y"] + est["bits_z"]) / pixels,
            "bytes_by_part": info["bytes_by_part"],
            "psnr": psnr(img.pixels, decoded),
            "encode_seconds": round(seconds, 4),
        },
    )
    return EXIT_OK


def _run_decompress(args) -> int:
    from coolchic.io.image import write_image

    from .bitstream import BitstreamError, unpack

    _check_outputs(args)
    try:
        with open(args.input, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"{args.input}: cannot read ({e.strerror})") from None
    try:
        unpack(data)  # fail fast, before loading the weights
    except BitstreamError as e:
        raise UsageError(f"{args.input}: {_msg(e)}") from None
    codec = _load_codec(args)
    t0 = time.perf_counter()
    try:
        pixels, header = codec.decompress(data)
    except BitstreamError as e:
        raise UsageError(f"{args.input}: {_msg(e)}") from None
    seconds = time.perf_counter() - t0
    write_image(args.output, pixels, header.bit_depth, force=True)
    _public(args.output)
    _report(
        args,
        {
            "model": header.model,
            "head": header.head,
            "input": args.input,
            "output": args.output,
            "height": header.height,
            "width": header.width,
            "channels": header.channels,
            "bit_depth": header.bit_depth,
            "bytes": len(data),
            "decode_seconds": round(seconds, 4),
        },
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError) as e:  # unexpected I/O or data problems: still one line
        if os.environ.get("BASELINES_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {_msg(e)}", file=sys.stderr)
        return EXIT_USAGE
