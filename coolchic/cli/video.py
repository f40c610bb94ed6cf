"""The CLI's video paths: `encode` of a y4m / .yuv / PNG folder / GIF, `decode` and `info` of a
video stream. coolchic.cli.main dispatches here; errors are raised as CLIError / ValueError subclasses
and printed as one line by coolchic.cli.main.main.
"""

from __future__ import annotations

import dataclasses
import json
import os

from coolchic.api.video import decode_video, encode_video
from coolchic.cli.options import check_output, preset_for, print_macs_line, print_report, save_stream, write_report
from coolchic.coding.video_format import patch_boxes, unpack
from coolchic.io.video import read_video, write_video
from coolchic.io.yuv import yuv_name_layout
from coolchic.model.macs import video_macs_per_pixel


def parse_size(text: str | None):
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT (e.g. 416x240), got {text!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"--size must be positive, got {text!r}")
    return w, h


def encode(args) -> int:
    preset = preset_for(args.preset, video=True)
    check_output(args.output, [args.input], args.force)
    if args.checkpoint or args.candidates > 1 or args.adaptive or args.prune_after or args.keep:
        raise ValueError("--checkpoint, --candidates, --prune-after, --keep and --adaptive apply to images only")
    size = parse_size(args.size) or yuv_name_layout(args.input).get("size")
    video = read_video(args.input, size=size, max_frames=args.frames)
    config = preset.config
    if args.patch:
        config = dataclasses.replace(config, patch=tuple(args.patch))
    steps = args.steps or preset.steps
    if args.offset_steps is not None and not 0 <= args.offset_steps < steps:
        raise ValueError(f"--offset-steps must be in [0, {steps}), got {args.offset_steps}")
    data, report = encode_video(
        video,
        config,
        lmbda=args.lmbda,
        steps=steps,
        recipe=args.recipe,
        seed=args.seed,
        offset_steps=args.offset_steps,
        progress=not args.quiet,
    )
    save_stream(args, data, report, preset.name)
    print_report(
        report,
        ["bpp", "bpp_estimated", "psnr", "macs_per_pixel", "bytes", "frames", "patches", "steps", "encode_seconds"],
    )
    print(f"{'psnr_yuv':>16}: " + ", ".join(f"{k} {v:.2f}" for k, v in report.psnr_yuv.items()))
    write_report(args.json, report)
    return 0


def decode(args, data: bytes) -> int:
    out = args.output
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".y4m", ".yuv", ".gif") and (ext or os.path.isfile(out)):
        raise ValueError(f"{out}: a video decodes to .y4m, .yuv, .gif or a folder of PNG frames")
    video, report = decode_video(data)
    chroma = "420" if ext == ".yuv" else (report.chroma or "420")  # raw .yuv is 4:2:0
    write_video(out, video, chroma=chroma, force=args.force)
    report.output = os.path.abspath(out)
    print_report(report, ["frames", "height", "width", "decode_seconds"])
    write_report(args.json, report)
    return 0


def info(args, data: bytes) -> int:
    header, patches, parts = unpack(data)
    c = header.config
    n = header.frames * header.height * header.width
    boxes = patch_boxes(header.frames, header.height, header.width, c.patch)
    per_patch = [
        {"box": list(b), "offsets": [list(o) for o in p.offsets], **bp}
        for b, p, bp in zip(boxes, patches, parts["patches"])
    ]
    report = {
        "file": os.path.abspath(args.input),
        "bytes": len(data),
        "bpp": 8.0 * len(data) / n,
        "frames": header.frames,
        "height": header.height,
        "width": header.width,
        "fps": list(header.fps),
        "matrix": header.matrix,
        "chroma": header.chroma,
        "architecture": c.to_dict(),
        "bytes_by_part": {k: v for k, v in parts.items() if k != "patches"},
        "patches": per_patch,
        "macs_per_pixel": video_macs_per_pixel(c, *boxes[0][3:]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{args.input}: video, {len(data)} bytes, {report['bpp']:.4f} bpp, {header.frames} frames of "
        f"{header.width}x{header.height}, {header.fps[0]}/{header.fps[1]} fps"
    )
    print(f"  bytes by part: {report['bytes_by_part']}")
    print(
        f"  grids {c.n_grids} (3D), ARM context {len(c.context)} + previous-frame window "
        f"{c.prev_window[0]}x{c.prev_window[1]} -> {list(c.arm_hidden)} -> 2, synthesis {list(c.synth_hidden)} + "
        f"{c.synth_convs} {'3D' if c.conv3d else 'per-frame'} residual convs"
    )
    print_macs_line(report["macs_per_pixel"])
    print(f"  {len(patches)} patch(es) of {list(c.patch)} (0 = whole dimension):")
    for i, p in enumerate(per_patch):
        t0, y0, x0, t, h, w = p["box"]
        print(
            f"    #{i}: frames {t0}..{t0 + t - 1}, rows {y0}..{y0 + h - 1}, cols {x0}..{x0 + w - 1}: "
            f"weights {p['weights']} B, latents {p['latents']} B, offsets {p['offsets']}"
        )
    return 0
