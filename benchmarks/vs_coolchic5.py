"""Ours against Cool-chic 5: its own encoder run on the same input, and its published Kodak results.

    python benchmarks/vs_coolchic5.py [--images 1 2 3 4] [--size 0] [--lmbdas 1e-3 4e-3] [--steps 10000]
                                      [--preset cc5-hop] [--recipe coolchic5] [--seeds 0] [--set FIELD=VALUE ...]
                                      [--reference CC5_RUNS.json ...] [--out benchmarks/results/vs_coolchic5.json]

Every (image, lambda, seed) is fitted, coded to a real file and written as one row (the fields of
benchmarks/vs_c3.py: bpp and PSNR from the file bytes, RD cost MSE + lambda * bpp, seconds).
--size 0 (the default) takes whole Kodak images and compares each row with Cool-chic 5.0's
per-image results (../shared/anchors/coolchic/v5.0-image-kodak.tsv): the rate ratio at equal
PSNR and the PSNR difference at equal rate, from its per-image curve interpolated linearly in
log-rate (no extrapolation: a row outside the curve's PSNR range has no ratio). --size N takes the
centred N x N crops, which the anchors do not cover. --reference adds runs of Cool-chic 5's own
encoder on the same input (made by hand from its repository, never committed here): JSON rows
with image, lmbda, steps, crop ([y, x, size] or null for the whole image), psnr, bpp and
optionally seconds (the runs behind the README's table: benchmarks/results/coolchic5_reference/);
a matching row gets their mean RD cost, bpp, PSNR and seconds and our ratios to them.
The output is rewritten after every row and a re-run skips the rows already there.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from _common import SHARED, emit, kodak
from vs_c3 import centre_crop, fit_arguments, identity, overrides, row_for

from coolchic.evaluation.anchors import read_coolchic_rows
from coolchic.io.files import write_json
from coolchic.io.image import Image, read_image
from coolchic.presets import get_preset

IDENTITY = ("image", "lmbda", "steps", "preset", "recipe", "seed", "set", "config")  # vs_c3.identity
ANCHORS = os.path.join(SHARED, "anchors", "coolchic", "v5.0-image-kodak.tsv")


def anchor_curves() -> dict:
    """image -> (psnr, bpp) arrays of Cool-chic 5.0's per-image curve, sorted by PSNR."""
    if not os.path.exists(ANCHORS):
        return {}
    curves: dict = {}
    for r in read_coolchic_rows(ANCHORS):
        curves.setdefault(r["image"], []).append((r["psnr"], r["bpp"]))
    return {k: tuple(np.array(v) for v in zip(*sorted(pts))) for k, pts in curves.items()}


def against_curve(psnr: float, bpp: float, curve) -> dict:
    """Rate ratio at equal PSNR and PSNR gain at equal rate against one curve (None outside it)."""
    ps, bs = curve
    out = {"anchor_points": [[float(p), float(b)] for p, b in zip(ps, bs)]}
    if ps[0] <= psnr <= ps[-1]:
        out["rate_ratio_at_equal_psnr"] = bpp / float(np.exp(np.interp(psnr, ps, np.log(bs))))
    lb = np.log(bs)
    if lb.min() <= np.log(bpp) <= lb.max():
        o = np.argsort(lb)
        out["delta_psnr_at_equal_rate"] = psnr - float(np.interp(np.log(bpp), lb[o], ps[o]))
    return out


def reference_rows(paths: list[str]) -> dict:
    """(image, lambda, steps, crop) -> Cool-chic 5 runs."""
    rows: dict = {}
    for p in paths:
        with open(p) as f:
            data = json.load(f)
        for r in data if isinstance(data, list) else [data]:
            crop = tuple(r["crop"]) if r.get("crop") else None
            rows.setdefault((r["image"], float(r["lmbda"]), int(r["steps"]), crop), []).append(r)
    return rows


def with_reference(row: dict, refs: list | None) -> dict:
    row = {k: v for k, v in row.items() if not k.startswith("coolchic5_")}
    if not refs:
        return row
    costs = [10 ** (-r["psnr"] / 10) + row["lmbda"] * r["bpp"] for r in refs]
    ref = {
        "coolchic5_runs": [{k: r.get(k) for k in ("psnr", "bpp", "seconds")} for r in refs],
        "coolchic5_rd_cost": float(np.mean(costs)),
        "coolchic5_bpp": float(np.mean([r["bpp"] for r in refs])),
        "coolchic5_psnr": float(np.mean([r["psnr"] for r in refs])),
    }
    ref["coolchic5_rd_cost_ratio"] = row["rd_cost"] / ref["coolchic5_rd_cost"]
    if all("seconds" in r for r in refs):
        ref["coolchic5_seconds"] = float(np.mean([r["seconds"] for r in refs]))
        ref["coolchic5_seconds_ratio"] = (row["fit_seconds"] + row["encode_seconds"]) / ref["coolchic5_seconds"]
    return {**row, **ref}


def summarise(rows: list[dict]) -> dict:
    out: dict = {"rows": len(rows)}
    for field in ("rate_ratio_at_equal_psnr", "delta_psnr_at_equal_rate", "coolchic5_rd_cost_ratio"):
        vals = [r["anchor"][field] if field in r.get("anchor", {}) else r.get(field) for r in rows]
        vals = [v for v in vals if v is not None]
        if vals:
            out[f"mean_{field}"] = float(np.mean(vals))
            out[f"n_{field}"] = len(vals)
    return out


def load_input(i: int, size: int) -> tuple[Image, list | None]:
    if size:
        return centre_crop(kodak(i), size)
    return read_image(kodak(i)), None


def main(argv=None) -> int:
    ap = fit_arguments(__doc__, [1, 2, 3, 4], 0, 10_000, "cc5-hop", "coolchic5")  # --size 0: whole images
    ap.add_argument("--reference", nargs="*", default=[], metavar="CC5_RUNS.json")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.size < 0:
        ap.error("--size must be >= 0")
    settings = overrides(args.set)
    config = dataclasses.replace(get_preset(args.preset).config, **settings)
    refs = reference_rows(args.reference)
    curves = anchor_curves() if not args.size else {}
    key = lambda r: json.dumps({f: r[f] for f in (*IDENTITY, "size")}, sort_keys=True)
    rows = {}
    if args.out and os.path.exists(args.out):
        with open(args.out) as f:
            rows = {key(r): r for r in json.load(f).get("rows", [])}
    mine = []
    for i in args.images:
        img, box = load_input(i, args.size)
        name = f"kodim{i:02d}"
        for lm in args.lmbdas:
            for seed in args.seeds:
                k = key({**identity(name, lm, seed, args, config, settings), "size": args.size})
                if k not in rows:
                    rows[k] = {**row_for(img, name, box, lm, seed, args, config, settings), "size": args.size}
                r = with_reference(rows[k], refs.get((name, lm, args.steps, tuple(box) if box else None)))
                if name in curves:
                    r["anchor"] = against_curve(r["psnr"], r["bpp"], curves[name])
                rows[k] = r
                mine.append(k)
                print(json.dumps({f: r.get(f) for f in ("image", "lmbda", "bpp", "psnr", "rd_cost")}), flush=True)
                if args.out:
                    write_json(args.out, {"rows": list(rows.values()), "summary": summarise([rows[m] for m in mine])})
    emit({"rows": list(rows.values()), "summary": summarise([rows[m] for m in mine])}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
