"""Equal-budget comparison with C3's own code: the same crops, lambdas and steps, JSON rows.

    python benchmarks/vs_c3.py [--images 1 3 23] [--size 256] [--lmbdas 1e-3 4e-3] [--steps 3000]
                               [--preset c3-kodak] [--recipe c3] [--seeds 0 1 2] [--set FIELD=VALUE ...]
                               [--c3 C3_RESULT.json ...] [--out benchmarks/results/vs_c3.json]

For every (crop, lambda) it fits with ours and writes one row with the quantities C3 reports:
before weight quantization, MSE + lambda * latent bpp (hard-rounded latents under the float ARM,
the reconstruction also rounded to 8 bits, as C3's `loss` before its network search); after it, from
the real file bytes, MSE + lambda * bpp (header, weights and range-coded latents; C3's `bpp_total`
counts ideal latent and network bits and no header). Crops are the centred size x size crop of
each Kodak image. `--set` overrides architecture fields of the preset (e.g. `--set latent_gain=1`
for an ablation); the row records them.

C3 itself is run by hand from its repository (never committed here): a C3 result file is JSON with
image, lmbda, steps, psnr and bpp_total (or only rd_cost) and optionally bpp_latents /
psnr_before_quantization (the runs behind the README's table: benchmarks/results/c3_reference/);
rows with a matching (image, lambda, steps) get C3's figures and the ratios to the mean of its runs.
The output file is rewritten after every row and a re-run skips rows already there. With several
seeds, `summary` has one entry per (crop, lambda): the mean of our seeds' RD costs, and its ratio
to C3's mean (a single seed's ratio also carries the luck of its initial draw).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import time

import numpy as np
from _common import emit, kodak

from coolchic.api.image import code_fit, fit_image, image_to_chw
from coolchic.fitting.result import evaluate
from coolchic.io.files import write_json
from coolchic.io.image import Image, read_image
from coolchic.presets import get_preset


def centre_crop(path: str, size: int) -> tuple[Image, list]:
    img = read_image(path)
    y, x = (img.height - size) // 2, (img.width - size) // 2
    return Image(np.ascontiguousarray(img.pixels[y : y + size, x : x + size]), img.bit_depth), [y, x, size]


def overrides(items: list[str]) -> dict:
    """FIELD=VALUE pairs as Python literals (numbers, tuples, strings)."""
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def c3_rows(paths: list[str]) -> dict:
    """(image, lambda, steps) -> the C3 runs given for it (several runs: C3's seed spread)."""
    rows = {}
    for p in paths:
        with open(p) as f:
            data = json.load(f)
        for r in data if isinstance(data, list) else [data]:
            rows.setdefault((r["image"], float(r["lmbda"]), int(r["steps"])), []).append(r)
    return rows


def config_record(config) -> dict:
    """Every field of the fitted configuration, JSON-ready: rows of other configurations differ."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def identity(name: str, lm: float, seed: int, args, config, settings: dict) -> dict:
    """What a row is of: a re-run with all of these the same skips it."""
    return {
        "image": name,
        "lmbda": lm,
        "steps": args.steps,
        "preset": args.preset,
        "recipe": args.recipe,
        "seed": seed,
        "set": settings,
        "config": config_record(config),
    }


def mse_8bit(result, img: Image) -> float:
    """MSE of the fit's reconstruction (unquantized weights) rounded to 8 bits, as C3's `eval`
    measures its before-quantization PSNR."""
    rec = evaluate(result.params, result.config, image_to_chw(img))["reconstruction"]
    return float(np.mean((np.round(rec * 255.0) / 255.0 - image_to_chw(img)) ** 2))


def row_for(img: Image, name: str, box: list, lm: float, seed: int, args, config, settings: dict) -> dict:
    t0 = time.perf_counter()
    result, fitted = fit_image(img, config, lmbda=lm, steps=args.steps, recipe=args.recipe, seed=seed, progress=False)
    fit_seconds = time.perf_counter() - t0
    _, coded = code_fit(img, result, fitted, t0)
    mse_fit, mse_fit_8bit = 10 ** (-fitted.psnr / 10), mse_8bit(result, img)
    mse_file = 10 ** (-coded.psnr / 10)
    return {
        **identity(name, lm, seed, args, config, settings),
        "crop": box,
        "psnr_before_weight_quantization": fitted.psnr,
        "psnr_before_weight_quantization_8bit": float(-10 * np.log10(mse_fit_8bit)),
        "bpp_latents_estimated": fitted.bpp_latents,
        "rd_cost_before_weight_quantization": mse_fit + lm * fitted.bpp_latents,
        "rd_cost_before_weight_quantization_8bit": mse_fit_8bit + lm * fitted.bpp_latents,
        "psnr": coded.psnr,
        "bpp": coded.bpp,
        "bytes_by_part": coded.bytes_by_part,
        "rd_cost": mse_file + lm * coded.bpp,
        "rd_cost_without_header": mse_file
        + lm * 8.0 * (coded.bytes - coded.bytes_by_part["header"]) / (img.height * img.width),
        "fit_seconds": fit_seconds,
        "encode_seconds": coded.encode_seconds,
    }


C3_FIELDS = ("psnr", "bpp_total", "bpp_latents", "psnr_before_quantization")


def _c3_costs(ref: dict, lmbda: float) -> tuple[float, float | None]:
    """(RD cost, RD cost before weight quantization or None) of one C3 run."""
    if "psnr" in ref and "bpp_total" in ref:
        cost = 10 ** (-ref["psnr"] / 10) + lmbda * ref["bpp_total"]
    else:  # a run known only by its RD cost
        cost = ref["rd_cost"]
    before = None
    if "bpp_latents" in ref and "psnr_before_quantization" in ref:
        before = 10 ** (-ref["psnr_before_quantization"] / 10) + lmbda * ref["bpp_latents"]
    return cost, before


def before_cost(row: dict) -> float:
    """Our RD cost before weight quantization on 8-bit pixels as C3 measures it (rows written
    before that field existed have float pixels only, about 1.3e-6 lower in MSE)."""
    return row.get("rd_cost_before_weight_quantization_8bit", row["rd_cost_before_weight_quantization"])


def with_c3(row: dict, refs: list | None) -> dict:
    """The row with C3's figures beside it: the mean over the C3 runs given, and each run's."""
    if not refs:
        return row
    stale = ("rd_cost_ratio", "rd_cost_before_ratio")
    row = {k: v for k, v in row.items() if not k.startswith("c3_") and k not in stale}
    costs = [_c3_costs(r, row["lmbda"]) for r in refs]
    c3_cost = float(np.mean([c for c, _ in costs]))
    out = {
        **row,
        "c3_runs": [{k: r.get(k) for k in C3_FIELDS} for r in refs],
        "c3_rd_costs": [c for c, _ in costs],
        "c3_rd_cost": c3_cost,
        "rd_cost_ratio": row["rd_cost"] / c3_cost,
    }
    befores = [b for _, b in costs if b is not None]
    if befores:
        c3_before = float(np.mean(befores))
        out.update(
            c3_rd_costs_before_weight_quantization=befores,
            c3_rd_cost_before_weight_quantization=c3_before,
            rd_cost_before_ratio=before_cost(row) / c3_before,
        )
    return out


def summarise(rows: list[dict]) -> list[dict]:
    """Per (crop, lambda): our seeds' mean RD costs and their ratios to C3's mean."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["image"], r["lmbda"]), []).append(r)
    out = []
    for (image, lm), rs in groups.items():
        entry = {
            "image": image,
            "lmbda": lm,
            "seeds": [r["seed"] for r in rs],
            "rd_cost_mean": float(np.mean([r["rd_cost"] for r in rs])),
            "rd_cost_before_weight_quantization_mean": float(np.mean([before_cost(r) for r in rs])),
        }
        if "c3_rd_cost" in rs[0]:
            entry["c3_rd_cost"] = rs[0]["c3_rd_cost"]
            entry["rd_cost_ratio_mean"] = entry["rd_cost_mean"] / rs[0]["c3_rd_cost"]
            entry["rd_cost_ratio_range"] = [min(r["rd_cost_ratio"] for r in rs), max(r["rd_cost_ratio"] for r in rs)]
        if "c3_rd_cost_before_weight_quantization" in rs[0]:
            c3b = rs[0]["c3_rd_cost_before_weight_quantization"]
            entry["c3_rd_cost_before_weight_quantization"] = c3b
            entry["rd_cost_before_ratio_mean"] = entry["rd_cost_before_weight_quantization_mean"] / c3b
        out.append(entry)
    return out


def fit_arguments(doc: str, images: list, size: int, steps: int, preset: str, recipe: str):
    """The options of the side-by-side benchmarks (this one and vs_coolchic5.py), their defaults."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, nargs="+", default=images)
    ap.add_argument("--size", type=int, default=size, help="centred crop side")
    ap.add_argument("--lmbdas", type=float, nargs="+", default=[1e-3, 4e-3])
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--preset", default=preset)
    ap.add_argument("--recipe", default=recipe)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    return ap


def main(argv=None):
    ap = fit_arguments(__doc__, [1, 3, 23], 256, 3000, "c3-kodak", "c3")
    ap.add_argument("--c3", nargs="*", default=[], metavar="C3_RESULT.json")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    settings = overrides(args.set)
    config = dataclasses.replace(get_preset(args.preset).config, **settings)
    refs = c3_rows(args.c3)
    old = []
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            old = json.load(f).get("rows", [])
    key = lambda r: (
        r["image"],
        r["lmbda"],
        r["steps"],
        r["preset"],
        r["recipe"],
        r["seed"],
        json.dumps(r["set"]),
        json.dumps(r.get("config"), sort_keys=True),
    )
    rows = {key(r): r for r in old}
    mine = []  # the keys of this invocation's rows, for the summary
    for i in args.images:
        img, box = centre_crop(kodak(i), args.size)
        for lm in args.lmbdas:
            name = f"kodim{i:02d}"
            for seed in args.seeds:
                k = key(identity(name, lm, seed, args, config, settings))
                if k not in rows:
                    rows[k] = row_for(img, name, box, lm, seed, args, config, settings)
                rows[k] = with_c3(rows[k], refs.get((name, lm, args.steps)))
                mine.append(k)
                print(json.dumps(rows[k]), flush=True)
                if args.out:
                    write_json(args.out, {"rows": list(rows.values()), "summary": summarise([rows[m] for m in mine])})
    emit({"rows": list(rows.values()), "summary": summarise([rows[m] for m in mine])}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
