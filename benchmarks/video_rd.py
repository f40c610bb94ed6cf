"""Video model vs coding each frame as an image, at the same steps per pixel.

    python benchmarks/video_rd.py [--frames 16] [--steps 300] [--lmbdas 1e-3 3e-3 1e-2]
                                  [--preset c3-video] [--crop H W] [--out F.json] [--figure F.png] [--resume]

Clip: ../shared/data/video/BasketballPass_416x240 (first --frames frames, RGB). The video is coded
by the video model (preset, one file, real bytes) with --steps steps (its offset pre-fit included);
each frame is coded as an image with --steps steps by an image model of the same ARM/synthesis
widths, so both spend the same number of gradient evaluations per pixel. RD points: bpp from file
bytes over all frames, PSNR as C3 reports video (RGB PSNR per frame, mean over frames) and YUV
6:1:1. BD-rate: video vs per-frame images on RGB PSNR, cubic (needs 4 lambdas) and pchip; negative =
the video model saves bits. The JSON is rewritten after every lambda; --resume keeps the lambdas
already measured and runs the others.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from _common import emit

from coolchic.api.image import encode_image
from coolchic.api.video import encode_video
from coolchic.config import ModelConfig
from coolchic.evaluation.bdrate import bd_rate
from coolchic.evaluation.metrics import psnr_rgb, video_psnr_yuv
from coolchic.io.image import from_integers
from coolchic.io.video import Video, read_video
from coolchic.presets import get_preset

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
CLIP = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "video", "BasketballPass_416x240"
)


def image_twin(config) -> ModelConfig:
    """The image model with the video model's ARM and synthesis widths (one grid more: the
    video's coarsest grids are also coarser in time)."""
    return ModelConfig(
        n_grids=config.n_grids + 1,
        context=config.context,
        arm_hidden=config.arm_hidden,
        synth_hidden=config.synth_hidden,
        synth_convs=config.synth_convs,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lmbdas", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    ap.add_argument("--preset", default="c3-video")
    ap.add_argument("--crop", type=int, nargs=2, default=None, metavar=("H", "W"))
    ap.add_argument("--out", default=os.path.join(RESULTS, "video_rd.json"))
    ap.add_argument("--figure", default=os.path.join(RESULTS, "video_rd.png"))
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the lambdas already in --out (same clip, frames, steps, preset) and run the others",
    )
    args = ap.parse_args(argv)
    if not os.path.isdir(CLIP):
        sys.exit(f"missing clip {CLIP}")
    video = read_video(CLIP, max_frames=args.frames)
    if args.crop:
        h, w = args.crop
        video = Video(video.frames[:, :h, :w].copy(), fps=video.fps)
    config = get_preset(args.preset).config
    t, h, w, _ = video.frames.shape
    img_config = image_twin(config)
    rows = {"video": [], "frames": []}
    if args.resume and os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f)
        if (old["frames"], old["height"], old["width"], old["steps"], old["preset"]) == (
            t,
            h,
            w,
            args.steps,
            args.preset,
        ):
            rows = {"video": old["video"], "frames": old["per_frame_images"]}
    done = {r["lmbda"] for r in rows["video"]} & {r["lmbda"] for r in rows["frames"]}
    rows = {k: [r for r in v if r["lmbda"] in done] for k, v in rows.items()}
    todo = [lm for lm in args.lmbdas if lm not in done]
    for lm in todo:
        t0 = time.perf_counter()
        data, rep = encode_video(video, config, lmbda=lm, steps=args.steps, progress=False)
        rows["video"].append(
            {
                "lmbda": lm,
                "bpp": rep.bpp,
                "psnr": rep.psnr,
                "psnr_yuv611": rep.psnr_yuv["yuv611"],
                "bytes": rep.bytes,
                "bytes_by_part": {k: v for k, v in rep.bytes_by_part.items() if k != "patches"},
                "offsets": rep.offsets,
                "seconds": time.perf_counter() - t0,
            }
        )
        print("video", rows["video"][-1], flush=True)
        t0 = time.perf_counter()
        total, recs = 0, []
        for f in video.frames:
            d, r = encode_image(from_integers(f, 8), img_config, lmbda=lm, steps=args.steps, progress=False)
            total += len(d)
            recs.append(np.clip(np.round(r.reconstruction * 255), 0, 255).astype(np.uint8))
        recs = np.stack(recs)
        rows["frames"].append(
            {
                "lmbda": lm,
                "bpp": 8.0 * total / (t * h * w),
                "psnr": psnr_rgb(video.frames, recs),
                "psnr_yuv611": video_psnr_yuv(video, recs)["yuv611"],
                "bytes": total,
                "seconds": time.perf_counter() - t0,
            }
        )
        print("frames", rows["frames"][-1], flush=True)
        summarize(rows, args, (t, h, w), img_config, final=lm == todo[-1])
    if not todo:
        summarize(rows, args, (t, h, w), img_config)


def bd_rates(rows: dict) -> dict:
    """BD-rate of the video model against the per-frame images: cubic (needs 4 points per
    curve) and piecewise cubic (pchip), each null with the reason when it cannot be computed."""
    curve = lambda k: ([r["bpp"] for r in rows[k]], [r["psnr"] for r in rows[k]])
    out = {}
    for method in ("cubic", "pchip"):
        try:
            out[method] = bd_rate(*curve("frames"), *curve("video"), method=method)
        except ValueError as e:
            out[method], out[f"{method}_error"] = None, str(e)
    return out


def summarize(rows: dict, args, shape: tuple, img_config: ModelConfig, final: bool = True) -> dict:
    """Write the JSON (after every lambda, so a long run keeps what it measured) and the figure."""
    t, h, w = shape
    rows = {k: sorted(v, key=lambda r: r["lmbda"]) for k, v in rows.items()}
    result = {
        "clip": "BasketballPass_416x240",
        "frames": t,
        "height": h,
        "width": w,
        "steps": args.steps,
        "preset": args.preset,
        "image_config": img_config.to_dict(),
        "video": rows["video"],
        "per_frame_images": rows["frames"],
        "bd_rate_video_vs_frames_percent": bd_rates(rows),
        "complete": final,
    }
    emit(result, args.out)
    if args.figure and final:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        for k, label in (("video", f"video model ({args.preset})"), ("frames", "each frame as an image")):
            ax.plot([r["bpp"] for r in rows[k]], [r["psnr"] for r in rows[k]], "o-", label=label)
        ax.set_xlabel("bpp (file bytes)")
        ax.set_ylabel("PSNR RGB (dB, mean over frames)")
        ax.set_title(f"BasketballPass {w}x{h}, {t} frames, {args.steps} steps")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)
    return result


if __name__ == "__main__":
    main()
