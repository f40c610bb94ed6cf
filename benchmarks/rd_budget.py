"""Cool-chic recipe vs C3 recipe at a fixed step budget, and vmapped vs serial candidates.

    python benchmarks/rd_budget.py [--images 1 5 23] [--crop 128] [--steps 1000]
                                   [--lmbdas 3e-4 1e-3 3e-3 1e-2] [--candidates 4] [--out F.json]
    python benchmarks/rd_budget.py candidates [--crop 128] [--steps 500] [--modes threads vmap map default]
                                              [--repeats R] [--out F.json]

RD points use real file bytes (encode -> .cool), averaged per lambda over the images (mean bpp,
mean PSNR, as C3 and CompressAI average). BD-rate is C3 recipe vs Cool-chic recipe (cubic;
negative = C3 saves bits). The candidate timing fits N seeds of the first image together under
vmap and the same N seeds one after the other, both after compilation.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import numpy as np
from _common import emit, kodak

from coolchic.api.image import encode_image, image_to_chw
from coolchic.evaluation.bdrate import bd_rate
from coolchic.fitting.candidates import SEPARATE, batch_mode, fit
from coolchic.fitting.recipes import get_recipe
from coolchic.io.image import Image, read_image
from coolchic.presets import get_preset


def crop(path: str, size: int) -> Image:
    img = read_image(path)
    y, x = (img.height - size) // 2, (img.width - size) // 2
    return Image(img.pixels[y : y + size, x : x + size], img.bit_depth)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, nargs="+", default=[1, 5, 23])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lmbdas", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3, 1e-2])
    ap.add_argument("--preset", default="c3-kodak")
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    config = get_preset(args.preset).config
    imgs = {i: crop(kodak(i), args.crop) for i in args.images}
    rows, curves = [], {}
    for recipe in ("coolchic", "c3"):
        t0 = time.perf_counter()
        for lm in args.lmbdas:
            for i, img in imgs.items():
                _, rep = encode_image(img, config, lmbda=lm, steps=args.steps, recipe=recipe, progress=False)
                rows.append(
                    {
                        "recipe": recipe,
                        "image": f"kodim{i:02d}",
                        "lmbda": lm,
                        "bpp": rep.bpp,
                        "psnr": rep.psnr,
                        "encode_seconds": rep.encode_seconds,
                    }
                )
                print(rows[-1], file=sys.stderr)
        pts = [
            (
                np.mean([r["bpp"] for r in rows if r["recipe"] == recipe and r["lmbda"] == lm]),
                np.mean([r["psnr"] for r in rows if r["recipe"] == recipe and r["lmbda"] == lm]),
            )
            for lm in args.lmbdas
        ]
        curves[recipe] = {
            "bpp": [p[0] for p in pts],
            "psnr": [p[1] for p in pts],
            "wall_seconds": time.perf_counter() - t0,
        }
    bd = bd_rate(curves["coolchic"]["bpp"], curves["coolchic"]["psnr"], curves["c3"]["bpp"], curves["c3"]["psnr"])

    emit(
        {
            "steps": args.steps,
            "crop": args.crop,
            "preset": args.preset,
            "lmbdas": args.lmbdas,
            "curves": curves,
            "bd_rate_c3_vs_coolchic_percent": bd,
            "rows": rows,
            "candidates": candidate_timing(imgs, config, args.steps, args.candidates),
        },
        args.out,
    )
    return 0


def candidate_timing(imgs, config, steps, n, modes=("threads", "vmap", "map", None), repeats: int = 1) -> dict:
    """Wall time of n seeds fitted together (concurrent threads, vmap, lax.map, and the backend's
    default) vs n fits one after the other; every executable is compiled beforehand (schedules take the budget as a
    traced value, so a 2-step warm-up compiles what the timed runs use). With repeats > 1 the
    serial fits and every mode are timed in turn that many times and the fastest of each counts
    (a machine whose speed drifts during the run then biases no ratio)."""
    x = image_to_chw(next(iter(imgs.values())))
    recipe = get_recipe("c3", steps)
    seeds = list(range(n))
    out = {"n": n, "steps": steps, "repeats": repeats, "backend": jax.default_backend(), "default_mode": batch_mode()}
    for mode in {m or batch_mode() for m in modes} - set(SEPARATE):  # separate fits share the warm-up below
        fit(x, config, get_recipe("c3", 2), 1e-3, seeds=seeds, progress=False, batch=mode)
    fit(x, config, get_recipe("c3", 2), 1e-3, seed=0, progress=False)
    times = {}
    for _ in range(repeats):
        t = time.perf_counter()
        serial = [fit(x, config, recipe, 1e-3, seed=s, progress=False) for s in seeds]
        times.setdefault("serial", []).append(time.perf_counter() - t)
        out["serial_costs"] = [r.candidates[0]["rd_cost"] for r in serial]
        for mode in modes:
            t = time.perf_counter()
            together = fit(x, config, recipe, 1e-3, seeds=seeds, progress=False, batch=mode)
            name = mode or "default"
            times.setdefault(name, []).append(time.perf_counter() - t)
            out[f"{name}_costs"] = [c["rd_cost"] for c in together.candidates]
            out[f"{name}_chosen_is_min"] = together.candidates[together.chosen]["rd_cost"] == min(out[f"{name}_costs"])
            out[f"{name}_same_as_serial"] = out[f"{name}_costs"] == out["serial_costs"]
    for name, ts in times.items():
        out[f"{name}_seconds"] = min(ts)
        out[f"{name}_all_seconds"] = ts
        if name != "serial":
            out[f"{name}_over_serial"] = min(ts) / min(times["serial"])
    return out


def candidates_only(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", type=int, default=1)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--preset", default="c3-kodak")
    ap.add_argument(
        "--modes",
        nargs="+",
        choices=["threads", "vmap", "map", "default"],
        default=["threads", "vmap", "map", "default"],
        help="ways of fitting the candidates together to time against serial fits",
    )
    ap.add_argument("--repeats", type=int, default=1, help="time everything this many times in turn, keep the fastest")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    imgs = {args.image: crop(kodak(args.image), args.crop)}
    modes = [None if m == "default" else m for m in args.modes]
    emit(
        {
            "candidates": candidate_timing(
                imgs, get_preset(args.preset).config, args.steps, args.candidates, modes, args.repeats
            )
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "candidates":
        sys.exit(candidates_only(sys.argv[2:]) or 0)
    sys.exit(main())
