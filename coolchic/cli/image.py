"""`coolchic fit | encode | decode | info | macs`: images here, video inputs and streams handed to
coolchic.cli.video."""

from __future__ import annotations

import dataclasses
import json
import os

import coolchic.cli.video as cli_video
from coolchic.api.image import decode_image, encode_image, fit_image
from coolchic.cli.options import (
    CLIError,
    check_output,
    preset_for,
    print_macs_line,
    print_report,
    pruning,
    read_stream,
    save_stream,
    write_report,
)
from coolchic.cli.video import parse_size
from coolchic.coding.image_format import unpack
from coolchic.coding.video_format import is_video_stream
from coolchic.config import CoolChic5Config
from coolchic.io.image import read_image, write_image
from coolchic.io.video import is_video_path
from coolchic.io.yuv import read_yuv_image, write_yuv_image, yuv_frame_count, yuv_name_layout
from coolchic.model.macs import all_conventions, conventions, format_table, macs_per_pixel
from coolchic.presets import get_preset


def _fit_kwargs(args) -> dict:
    return dict(
        lmbda=args.lmbda,
        recipe=args.recipe,
        seed=args.seed,
        candidates=args.candidates,
        adaptive=args.adaptive,
        progress=not args.quiet,
        checkpoint_dir=args.checkpoint,
        **pruning(args),
    )


def yuv_layout(args, path: str) -> dict | None:
    """The layout of a raw .yuv input (size, chroma, bit_depth: the flags, else what a Cool-chic
    style name says, else 4:2:0 8-bit) when it holds one frame, which is then coded as a YUV
    image; None for any other input (a .yuv of several frames is a video)."""
    if not path.lower().endswith(".yuv"):
        return None
    given = {"size": parse_size(args.size), "chroma": args.chroma, "bit_depth": args.bit_depth}
    layout = {"size": None, "chroma": "420", "bit_depth": 8} | yuv_name_layout(path)
    layout |= {k: v for k, v in given.items() if v is not None}
    if layout["size"] is None:
        raise CLIError(f"{path}: a raw .yuv input needs --size WxH (or a name like image_768x512_1p_yuv420_8b.yuv)")
    frames = yuv_frame_count(path, **layout)
    if frames == 1:
        return layout
    if (layout["chroma"], layout["bit_depth"]) != ("420", 8):
        raise CLIError(f"{path}: holds {frames} frames, a video; videos are read from 8-bit 4:2:0 .yuv only")
    return None


def read_input_image(args, path: str):
    """The image a fit or encode command codes: PNG / PPM / PGM, or a one-frame raw .yuv."""
    layout = yuv_layout(args, path)
    return read_yuv_image(path, **layout) if layout else read_image(path)


def _outputs_for(colour: str) -> str:
    return ".yuv" if colour != "rgb" else ".png, .ppm or .pgm"


def write_output_image(path: str, img, force: bool) -> None:
    """An RGB / gray image to PNG / PPM / PGM, a YUV image to .yuv: nothing is converted."""
    if path.lower().endswith(".yuv") != (img.colour != "rgb"):
        raise CLIError(f"{path}: a {img.colour.upper()} image is written to {_outputs_for(img.colour)}")
    if img.colour != "rgb":
        write_yuv_image(path, img, force=force)
    else:
        write_image(path, img.pixels, img.bit_depth, force=force)


def cmd_fit(args) -> int:
    if yuv_layout(args, args.image) is None and is_video_path(args.image):
        raise CLIError("fit works on images; use `coolchic encode` for videos")
    preset = preset_for(args.preset, video=False)
    if args.save_reconstruction:
        check_output(args.save_reconstruction, [args.image], args.force)
    img = read_input_image(args, args.image)
    _, report = fit_image(img, preset.config, steps=args.steps or preset.steps, **_fit_kwargs(args))
    report.preset, report.image = preset.name, os.path.abspath(args.image)
    print_report(
        report,
        ["bpp_estimated", "bpp_latents", "bpp_weights_estimated", "psnr", "macs_per_pixel", "steps", "fit_seconds"],
    )
    print(f"{'':>16}  (weights: {report.weights_estimate})")
    if args.save_reconstruction:
        rec = dataclasses.replace(img, pixels=report.reconstruction)
        write_output_image(args.save_reconstruction, rec, force=True)
    write_report(args.json, report)
    return 0


def cmd_encode(args) -> int:
    yuv_image = yuv_layout(args, args.input) is not None
    if (args.chroma or args.bit_depth) and not args.input.lower().endswith(".yuv"):
        raise CLIError("--chroma and --bit-depth apply to raw .yuv inputs only")
    if is_video_path(args.input) and not yuv_image:
        return cli_video.encode(args)
    if args.frames or args.patch or args.offset_steps is not None:
        raise CLIError("--frames, --patch and --offset-steps apply to videos only")
    if not yuv_image and (args.size or args.chroma or args.bit_depth):
        raise CLIError("--size, --chroma and --bit-depth apply to raw .yuv inputs only")
    preset = preset_for(args.preset, video=False)
    check_output(args.output, [args.input], args.force)
    img = read_input_image(args, args.input)
    data, report = encode_image(img, preset.config, steps=args.steps or preset.steps, **_fit_kwargs(args))
    save_stream(args, data, report, preset.name)
    print_report(
        report, ["bpp", "bpp_estimated", "psnr", "ms_ssim", "macs_per_pixel", "bytes", "steps", "encode_seconds"]
    )
    print(f"{'bytes_by_part':>16}: {report.bytes_by_part}")
    write_report(args.json, report)
    return 0


def cmd_decode(args) -> int:
    data = read_stream(args.input)
    if is_video_stream(data):
        if os.path.exists(args.output) and os.path.samefile(args.output, args.input):
            raise CLIError(f"refusing to overwrite the input {args.input}")
        return cli_video.decode(args, data)
    check_output(args.output, [args.input], args.force)
    colour = unpack(data)[0].config.colour
    ext = os.path.splitext(args.output)[1].lower()
    if ext in (".y4m", ".gif") or (ext == ".yuv") != (colour != "rgb"):
        raise CLIError(f"{args.input} holds a {colour.upper()} image; decode it to {_outputs_for(colour)}")
    img, report = decode_image(data)
    write_output_image(args.output, img, force=True)
    report.output = os.path.abspath(args.output)
    print_report(report, ["height", "width", "channels", "colour", "bit_depth", "decode_seconds"])
    write_report(args.json, report)
    return 0


def cmd_info(args) -> int:
    data = read_stream(args.input)
    if is_video_stream(data):
        return cli_video.info(args, data)
    header, _, _, parts = unpack(data)
    c = header.config
    info = {
        "file": os.path.abspath(args.input),
        "bytes": len(data),
        "bpp": 8.0 * len(data) / (header.height * header.width),
        "bytes_by_part": parts,
        "height": header.height,
        "width": header.width,
        "channels": header.channels,
        "colour": c.colour,
        "bit_depth": header.bit_depth,
        "architecture": c.to_dict(),
        "quantization_steps": {m: [2.0**-k for k in ks] for m, ks in header.steps.items()},
        "macs_per_pixel": macs_per_pixel(c, header.height, header.width),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{args.input}: {len(data)} bytes, {info['bpp']:.4f} bpp, {header.width}x{header.height}, "
        f"{header.channels} channel(s), {header.bit_depth}-bit" + (f", {c.colour.upper()}" if c.colour != "rgb" else "")
    )
    print(f"  bytes by part: {parts}")
    print(
        f"  grids {c.n_grids}, ARM context {len(c.context)} -> {list(c.arm_hidden)} -> 2, upsampling {c.upsampling}, "
        f"synthesis {list(c.synth_hidden)} + {c.synth_convs} residual convs"
    )
    if isinstance(c, CoolChic5Config):
        print(
            f"  Cool-chic 5 decoder: hyperlatents at levels {list(c.hyper_levels)}, IFCE {c.ifce_features} features "
            f"on {c.ifce_grids} grids, {c.arm_layers} residual ARM layers, pre-concatenation taps {c.preconcat_taps}"
        )
    if c.output_range:
        top = (1 << header.bit_depth) - 1
        print(
            "  output range (samples): "
            + ", ".join(f"{p} {round(lo * top)}..{round(hi * top)}" for p, (lo, hi) in zip("YUV", c.output_range))
        )
    print(
        "  quantization steps (weights, biases): "
        + ", ".join(f"{m} 2^-{k[0]}, 2^-{k[1]}" for m, k in header.steps.items())
    )
    print_macs_line(info["macs_per_pixel"], conventions(c)[0])
    return 0


def cmd_macs(args) -> int:
    preset = get_preset(args.preset)
    c = preset.config
    if c.is_video:
        print(f"preset {args.preset}: {preset.description}; video {args.frames}x{args.height}x{args.width}")
        print(format_table(c, args.height, args.width, args.frames))
        write_report(args.json, all_conventions(c, args.height, args.width, args.frames))
        return 0
    c = c.for_image(c.out_channels, args.height, args.width)
    print(f"preset {args.preset}: {preset.description}; image {args.height}x{args.width}")
    print(format_table(c, args.height, args.width))
    write_report(args.json, all_conventions(c, args.height, args.width))
    return 0
