"""`coolchic demo`: code a sample bundled with scikit-image, decode it, check decode == encoder."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

import numpy as np

from coolchic.api.image import decode_image, encode_image
from coolchic.api.video import decode_video, encode_video
from coolchic.cli.options import positive_float, positive_int, print_report
from coolchic.io.image import Image, read_image, sample_image_path
from coolchic.io.video import read_video, sample_video_path
from coolchic.presets import get_preset


def _finish(report, keys: list, seconds: float, same: bool) -> int:
    print_report(report, keys)
    print(f"{'decode_seconds':>16}: {seconds:.4f}")
    print(f"{'decoded == enc':>16}: {same}")
    return 0 if same else 1


def demo_video(args) -> int:
    video = read_video(sample_video_path())
    t, h, w, _ = video.frames.shape
    config = dataclasses.replace(get_preset("video-fast").config, patch=(0, 0, 0))  # one patch: all frames
    print(
        f"demo: encoding scikit-image's no_time_for_that_tiny.gif ({t} frames of {w}x{h}), preset video-fast "
        f"(one patch), {args.steps} steps, lambda {args.lmbda:g}"
    )
    data, report = encode_video(video, config, lmbda=args.lmbda, steps=args.steps, progress=True)
    t0 = time.perf_counter()
    decoded, _ = decode_video(bytes(data))
    dt = time.perf_counter() - t0
    same = bool(np.array_equal(decoded.frames, report.reconstruction))
    return _finish(
        report, ["bpp", "bpp_estimated", "psnr", "macs_per_pixel", "bytes", "patches", "encode_seconds"], dt, same
    )


def cmd_demo(args) -> int:
    if args.video:
        return demo_video(args)
    img = read_image(sample_image_path(args.image))
    if args.crop:
        img = Image(img.pixels[: args.crop, : args.crop], img.bit_depth)
    print(
        f"demo: encoding scikit-image's {args.image}.png ({img.width}x{img.height} crop), preset c3-kodak, "
        f"{args.steps} steps, lambda {args.lmbda:g}"
    )
    data, report = encode_image(img, get_preset("c3-kodak").config, lmbda=args.lmbda, steps=args.steps, progress=True)
    with tempfile.TemporaryDirectory() as d:  # through a real file, as a user would
        path = os.path.join(d, "demo.cool")
        with open(path, "wb") as f:
            f.write(data)
        t = time.perf_counter()
        with open(path, "rb") as f:
            decoded, _ = decode_image(f.read())
        dt = time.perf_counter() - t
    same = bool(np.array_equal(decoded.pixels, report.reconstruction))
    return _finish(report, ["bpp", "bpp_estimated", "psnr", "macs_per_pixel", "bytes", "encode_seconds"], dt, same)


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="fit an image (or, with --video, a GIF) bundled with scikit-image")
    d.add_argument("--image", default="astronaut")
    d.add_argument("--video", action="store_true", help="code scikit-image's tiny animated GIF instead")
    d.add_argument("--steps", type=positive_int, default=1000)
    d.add_argument("--lmbda", type=positive_float, default=2e-3)
    d.add_argument("--crop", type=positive_int, default=256)
    d.set_defaults(func=cmd_demo)
