"""Evaluate the codec on a set of images and lambdas: real bitstreams, per-image rows and means.

`coolchic eval DIR_OR_FILES... --lmbda L [L ...] --out results.json` (coolchic.cli.evaluate)
calls :func:`evaluate_images`. For every (image, lambda) it fits and codes the image
(`coolchic.api.image.encode_image`), decodes the bytes (`coolchic.coding.image_codec.decode`) and checks that the
decoder's pixels equal the encoder's reconstruction, then records one row:

    {image, path, lmbda, bpp (file bytes x 8 / pixels), bpp_estimated, psnr, ms_ssim (null below
     161 pixels a side), macs_per_pixel, bytes, encode_seconds (fit + coding; the first fit of a
     shape also pays XLA compilation), decode_seconds, decoded_matches_encoder, steps, preset,
     recipe, crop, seed, height, width, n_pixels}

and per-lambda means (`means`): bpp = total bits / total pixels (the plain mean when all images
have one size, as on Kodak), psnr = mean of per-image PSNR (CompressAI's and C3's averaging, which
is what `coolchic.evaluation.anchors.read_results_json` uses by default), psnr_of_mean_mse = PSNR of the
pixel-weighted mean MSE (Cool-chic's summaries). The file is `coolchic.evaluation.anchors`' results.json
format, so `coolchic bdrate` and `coolchic plot` read it.

Resumable: the file is rewritten atomically after every finished row, and a later run skips every
(image, lambda) row already present with the same steps, preset, recipe, crop and seed; a row with
other settings is fitted again and replaced.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from coolchic.api import image as image_api  # looked up per call, so tests and notebooks can wrap it
from coolchic.evaluation.anchors import CurveError, load_curve
from coolchic.evaluation.bdrate import compare
from coolchic.fitting.recipes import get_recipe
from coolchic.fitting.threads import as_completed
from coolchic.io.files import write_json
from coolchic.io.image import Image, read_image
from coolchic.presets import Preset, get_preset
from coolchic.reports import EncodeReport, EvalRow

IMAGE_SUFFIXES = (".png", ".ppm", ".pgm", ".pnm")
SETTINGS_KEYS = ("steps", "preset", "recipe", "crop", "seed")
FORMAT_VERSION = 1


class EvalError(ValueError):
    """A user-facing evaluation error (bad inputs or output); one line, printed by the CLI."""


# ----------------------------------------------------------------------------- inputs


def find_images(inputs) -> list[str]:
    """Image files named by `inputs`: files as given, directories expanded to their
    PNG/PPM/PGM files (sorted by name, not recursive). Raises EvalError when none is found."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[str] = []
    for p in inputs:
        p = os.fspath(p)
        if os.path.isdir(p):
            found = sorted(
                os.path.join(p, f)
                for f in os.listdir(p)
                if f.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(p, f))
            )
            if not found:
                raise EvalError(f"{p}: no PNG/PPM/PGM images in this directory")
            out.extend(found)
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise EvalError(f"{p}: no such file or directory")
    if not out:
        raise EvalError("no input images")
    names = [image_name(p) for p in out]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise EvalError(f"two inputs share the image name {dups[0]!r} (rows are keyed by file name)")
    return out


def image_name(path: str) -> str:
    """The name a row is keyed by: the file name without its suffix (e.g. "kodim01")."""
    return os.path.splitext(os.path.basename(os.fspath(path)))[0]


def parse_crop(text) -> tuple[int, int] | None:
    """ "HxW" (or "N" for N x N) -> (H, W); None/"" -> None."""
    if text is None or text == "":
        return None
    if isinstance(text, (tuple, list)):
        h, w = (int(v) for v in text)
    else:
        m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(text))
        if not m:
            raise EvalError(f"bad crop {text!r}; expected HxW, e.g. 64x64")
        h = int(m.group(1))
        w = int(m.group(2)) if m.group(2) else h
    if h < 1 or w < 1:
        raise EvalError(f"bad crop {text!r}; sides must be >= 1")
    return h, w


def centre_crop(img, crop: tuple[int, int] | None, name: str = "image"):
    """The centred crop of an Image (the image itself when crop is None)."""
    if crop is None:
        return img
    h, w = crop
    if h > img.height or w > img.width:
        raise EvalError(f"{name}: crop {h}x{w} is larger than the image ({img.height}x{img.width})")
    y0, x0 = (img.height - h) // 2, (img.width - w) // 2
    return Image(np.ascontiguousarray(img.pixels[y0 : y0 + h, x0 : x0 + w]), img.bit_depth)


# ----------------------------------------------------------------------------- results file


def _crop_str(crop) -> str | None:
    return None if crop is None else f"{crop[0]}x{crop[1]}"


def _settings(row: dict) -> tuple:
    return tuple(row.get(k) for k in SETTINGS_KEYS)


def load_results(path: str) -> dict | None:
    """The results file at `path` as a dict, None when it does not exist."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvalError(
            f"{path}: exists but is not a readable results file ({e}); move it away or use another --out"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise EvalError(f"{path}: exists but is not a results file (no 'images' list); use another --out")
    return data


def _mean(vals):
    vals = list(vals)
    if not vals or any(v is None for v in vals):
        return None
    return float(np.mean(vals))


def summarize(rows: list[dict]) -> list[dict]:
    """Per-lambda means of result rows (see the module docstring for the averaging)."""
    groups: dict[float, list[dict]] = {}
    for r in rows:
        groups.setdefault(float(r["lmbda"]), []).append(r)
    means = []
    for lm in sorted(groups):
        g = groups[lm]
        pix = np.array([float(r.get("n_pixels") or 1.0) for r in g])
        w = pix / pix.sum()
        mse = float(np.sum(w * np.power(10.0, -np.array([r["psnr"] for r in g], np.float64) / 10.0)))
        settings = {k: sorted({str(r.get(k)) for r in g}) for k in SETTINGS_KEYS}
        m = {
            "lmbda": lm,
            "n_images": len(g),
            "images": sorted(r["image"] for r in g),
            "bpp": float(np.sum(w * np.array([r["bpp"] for r in g]))),
            "bpp_estimated": float(np.sum(w * np.array([r["bpp_estimated"] for r in g]))),
            "psnr": float(np.mean([r["psnr"] for r in g])),
            "psnr_of_mean_mse": float("inf") if mse <= 0 else float(-10.0 * math.log10(mse)),
            "ms_ssim": _mean([r.get("ms_ssim") for r in g]),
            "macs_per_pixel": float(np.sum(w * np.array([r["macs_per_pixel"] for r in g]))),
            "encode_seconds": float(np.mean([r["encode_seconds"] for r in g])),
            "decode_seconds": float(np.mean([r["decode_seconds"] for r in g])),
        }
        for k in SETTINGS_KEYS:
            vals = {json.dumps(r.get(k)) for r in g}
            m[k] = g[0].get(k) if len(vals) == 1 else "mixed: " + ", ".join(settings[k])
        means.append(m)
    return means


def _write_results(out: str, data: dict) -> None:
    write_json(out, data, indent=1)


def _document(rows: list[dict], settings: dict) -> dict:
    rows = sorted(rows, key=lambda r: (float(r["lmbda"]), r["image"]))
    return {
        "format": "coolchic results.json",
        "version": FORMAT_VERSION,
        "name": settings["name"],
        "codec": "coolchic-jax",
        "settings": {k: v for k, v in settings.items() if k != "name"},
        "averaging": {
            "bpp": "total bits / total pixels per lambda (the plain mean when all images have one size)",
            "psnr": "mean of per-image PSNR (CompressAI and C3 averaging; what `coolchic bdrate` uses by default)",
            "psnr_of_mean_mse": "PSNR of the pixel-weighted mean MSE (Cool-chic's summaries)",
        },
        "means": summarize(rows),
        "images": rows,
    }


# ----------------------------------------------------------------------------- the loop


@dataclasses.dataclass
class _Plan:
    """What a run of evaluate_images does: checked inputs, the rows kept from `out`, the work left."""

    files: list
    lmbdas: list
    steps: int
    preset: Preset
    recipe: str
    crop: tuple | None
    out: str
    settings: dict  # SETTINGS_KEYS -> value, plus the document's name
    old: dict | None
    rows: dict  # (image name, lambda) -> row dict
    todo: list  # (file, lambda) still to fit


def _checked_inputs(paths, lmbdas, steps, preset, recipe, out, crop, batch, jobs):
    files = find_images(paths)
    lmbdas = list(dict.fromkeys(float(v) for v in np.atleast_1d(np.asarray(lmbdas, dtype=np.float64))))
    if not lmbdas:
        raise EvalError("no lambda given")
    if any(not (v > 0 and math.isfinite(v)) for v in lmbdas):
        raise EvalError(f"lambdas must be finite and > 0, got {lmbdas}")
    p = get_preset(preset)
    if p.config.is_video:
        raise ValueError(f"preset {preset!r} is a video preset; `coolchic eval` evaluates images")
    steps = int(steps) if steps is not None else int(p.steps)
    if steps < 1:
        raise EvalError(f"steps must be >= 1, got {steps}")
    get_recipe(recipe, steps)  # fail early on an unknown recipe or budget
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise EvalError(f"output directory {out_dir} does not exist")
    if jobs < 1:
        raise EvalError(f"jobs must be >= 1, got {jobs}")
    if batch and jobs > 1:
        raise EvalError("--batch and --jobs are two ways of fitting images together: choose one")
    return files, lmbdas, p, steps, parse_crop(crop)


def _plan(paths, lmbdas, steps, preset, recipe, out, crop, seed, batch, jobs, say) -> _Plan:
    out = os.fspath(out)
    files, lmbdas, p, steps, crop = _checked_inputs(paths, lmbdas, steps, preset, recipe, out, crop, batch, jobs)
    settings = {"steps": steps, "preset": preset, "recipe": recipe, "crop": _crop_str(crop), "seed": int(seed)}
    want = _settings(settings)
    old = load_results(out)
    rows: dict[tuple[str, float], dict] = {}
    for r in old["images"] if old is not None else []:
        if isinstance(r, dict) and "image" in r and "lmbda" in r:
            rows[(str(r["image"]), float(r["lmbda"]))] = r
    todo = [
        (f, lm)
        for f in files
        for lm in lmbdas
        if not ((image_name(f), lm) in rows and _settings(rows[(image_name(f), lm)]) == want)
    ]
    skipped = len(files) * len(lmbdas) - len(todo)
    if skipped:
        say(f"coolchic eval: {out}: {skipped} of {len(files) * len(lmbdas)} (image, lambda) rows already done, skipped")
    replaced = [(image_name(f), lm) for f, lm in todo if (image_name(f), lm) in rows]
    if replaced:
        say(
            f"coolchic eval: {len(replaced)} row(s) in {out} have other settings "
            f"(steps/preset/recipe/crop/seed) and will be fitted again and replaced"
        )
    name = f"coolchic-jax {recipe} {preset} {steps} steps" + (f" crop {settings['crop']}" if crop else "")
    return _Plan(files, lmbdas, steps, p, recipe, crop, out, {"name": name, **settings}, old, rows, todo)


def _row(plan: _Plan, f: str, img: Image, lm: float, data: bytes, rep: EncodeReport) -> EvalRow:
    """Decode the bytes, compare with the encoder's reconstruction, and make the results row."""
    t0 = time.perf_counter()
    decoded, info = image_api.decode_image(data)
    decode_wall = time.perf_counter() - t0
    same = bool(np.array_equal(decoded.pixels, rep.reconstruction))
    if not same:
        warnings.warn(f"{image_name(f)} at lambda {lm:g}: decoded pixels differ from the encoder's reconstruction")
    n_pix = img.height * img.width
    settings = {k: plan.settings[k] for k in SETTINGS_KEYS}
    return EvalRow(
        image=image_name(f),
        path=os.path.abspath(f),
        lmbda=lm,
        bpp=8.0 * len(data) / n_pix,
        bpp_estimated=rep.bpp_estimated,
        psnr=rep.psnr,
        ms_ssim=rep.ms_ssim,
        macs_per_pixel=rep.macs_per_pixel,
        bytes=len(data),
        bytes_by_part=rep.bytes_by_part,
        encode_seconds=rep.encode_seconds,
        fit_seconds=rep.fit_seconds,
        decode_seconds=info.decode_seconds or decode_wall,
        decoded_matches_encoder=same,
        **settings,
        height=img.height,
        width=img.width,
        n_pixels=n_pix,
        channels=img.channels,
        bit_depth=img.bit_depth,
    )


def _coded_batched(plan: _Plan, load, progress: bool, bar):
    """(file, image, lambda, bytes, report) with same-size images of one lambda fitted together (vmap)."""
    imgs = {f: load(f) for f in dict.fromkeys(f for f, _ in plan.todo)}
    groups: dict = {}
    for f, lm in plan.todo:
        im = imgs[f]
        groups.setdefault((lm, im.height, im.width, im.channels), []).append(f)
    for (lm, *_), fs in groups.items():
        if bar is not None:
            bar.set_description_str(f"eval {len(fs)} image(s) lambda={lm:g}")
        coded = image_api.encode_images(
            [imgs[f] for f in fs],
            plan.preset.config,
            lmbda=lm,
            steps=plan.steps,
            recipe=plan.recipe,
            seed=plan.settings["seed"],
            progress=progress,
            batch="vmap",
        )
        for f, (data, rep) in zip(fs, coded):
            yield f, imgs[f], lm, data, rep


def _coded_concurrently(plan: _Plan, load, jobs: int, bar):
    """(file, image, lambda, bytes, report) from `jobs` fits running at once, in order of completion."""

    def job(item):
        f, lm = item
        img = load(f)
        return img, image_api.encode_image(
            img,
            plan.preset.config,
            lmbda=lm,
            steps=plan.steps,
            recipe=plan.recipe,
            seed=plan.settings["seed"],
            progress=False,
        )

    if bar is not None:
        bar.set_description_str(f"eval ({jobs} jobs)")
    for i, (img, (data, rep)) in as_completed(job, plan.todo, jobs):
        yield plan.todo[i][0], img, plan.todo[i][1], data, rep


def _coded_one_by_one(plan: _Plan, load, progress: bool, bar):
    """(file, image, lambda, bytes, report), one fit after the other (each image read once)."""
    current, img = None, None
    for f, lm in plan.todo:
        if f != current:
            img, current = load(f), f
        if bar is not None:
            bar.set_description_str(f"eval {image_name(f)} lambda={lm:g}")
        data, rep = image_api.encode_image(
            img,
            plan.preset.config,
            lmbda=lm,
            steps=plan.steps,
            recipe=plan.recipe,
            seed=plan.settings["seed"],
            progress=progress,
        )
        yield f, img, lm, data, rep


def evaluate_images(
    paths,
    lmbdas,
    steps,
    preset,
    recipe,
    out,
    crop=None,
    progress=True,
    *,
    seed: int = 0,
    batch: bool = False,
    jobs: int = 1,
    log=None,
) -> dict:
    """Encode + decode every image at every lambda and keep results in `out` (results.json).

    paths: image files and/or directories of PNG/PPM/PGM images. lmbdas: rate-distortion
    trade-offs. steps: fitting steps (None: the preset's). preset: a `coolchic.presets` name.
    recipe: a registered recipe name. crop: None, (H, W) or "HxW": fit the centred crop.
    batch: fit the images of one size together per lambda (coolchic.api.image.encode_images).
    jobs: (image, lambda) fits run concurrently, each its own fit (the same files as jobs=1); each
        row's encode_seconds then counts time shared with the other jobs.
    log: callable for one-line messages (default: print to stderr).

    Returns the results document (also written to `out` after every row) with "mismatches", the
    (image, lambda) whose decoded pixels differ from the encoder's. Rows already in `out` with the
    same (image, lambda, steps, preset, recipe, crop, seed) are kept, not redone.
    """
    say = log or (lambda msg: print(msg, file=sys.stderr))
    plan = _plan(paths, lmbdas, steps, preset, recipe, out, crop, seed, batch, jobs, say)
    if batch:
        say(
            "coolchic eval: --batch fits same-size images together under vmap (see coolchic.fitting.candidates."
            "batch_mode for when that is faster)"
        )
    bar = (
        tqdm(total=len(plan.todo), unit="fit", desc="eval", dynamic_ncols=True, position=0)
        if progress and plan.todo
        else None
    )
    load = lambda f: centre_crop(read_image(f), plan.crop, f)
    if batch:
        coded = _coded_batched(plan, load, progress, bar)
    elif jobs > 1:
        coded = _coded_concurrently(plan, load, jobs, bar)
    else:
        coded = _coded_one_by_one(plan, load, progress, bar)
    mismatches = []
    try:
        for f, img, lm, data, rep in coded:
            row = _row(plan, f, img, lm, data, rep)
            if not row.decoded_matches_encoder:
                mismatches.append((row.image, lm))
            plan.rows[(row.image, lm)] = row.to_json()
            _write_results(plan.out, _document(list(plan.rows.values()), plan.settings))
            if bar is not None:
                bar.set_postfix_str(f"bpp={row.bpp:.3f} psnr={row.psnr:.2f}")
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    doc = _document(list(plan.rows.values()), plan.settings)
    if plan.old != doc:  # nothing new (a finished re-run): the file is left exactly as it was
        _write_results(plan.out, doc)
    doc["mismatches"] = mismatches  # not in the file: a summary of this run
    return doc


def bd_rate_line(results: str, anchor: str, method: str = "cubic") -> str:
    """One line with the BD-rate of the results file against an anchor curve, or "n/a: reason"."""
    try:
        a = load_curve(anchor)
    except CurveError as e:
        raise EvalError(str(e)) from None
    try:
        test = load_curve(results)
        r = compare(test, a, method=method)
    except CurveError as e:
        return f"BD-rate vs {a.name} ({method}): n/a: {e}"
    lo, hi = r["psnr_range_db"]
    return (
        f"BD-rate vs {a.name} ({method}): {r['bd_rate_percent']:+.2f} % over PSNR {lo:.2f}-{hi:.2f} dB "
        f"(averaging {r['test_aggregation']} vs {r['anchor_aggregation']})"
    )


def format_means(doc: dict) -> str:
    """A small table of the per-lambda means."""
    lines = [
        f"{'lambda':>10} {'images':>6} {'bpp':>8} {'bpp_est':>8} {'psnr':>7} {'ms_ssim':>7} {'enc_s':>8} {'dec_s':>7}"
    ]
    for m in doc["means"]:
        ms = "-" if m["ms_ssim"] is None else f"{m['ms_ssim']:.4f}"
        lines.append(
            f"{m['lmbda']:>10.4g} {m['n_images']:>6d} {m['bpp']:>8.4f} {m['bpp_estimated']:>8.4f} "
            f"{m['psnr']:>7.3f} {ms:>7} {m['encode_seconds']:>8.2f} {m['decode_seconds']:>7.3f}"
        )
    return "\n".join(lines)
