"""Evaluate the codec on a set of images and lambdas: real bitstreams, per-image rows and means.

`coolchic eval DIR_OR_FILES... --lmbda L [L ...] --out results.json` (see :func:`add_parser`)
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

import json
import math
import os
import re
import sys
import time
import warnings

import numpy as np

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
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if f.lower().endswith(IMAGE_SUFFIXES) and os.path.isfile(os.path.join(p, f)))
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
    """"HxW" (or "N" for N x N) -> (H, W); None/"" -> None."""
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
    from coolchic.io.image import Image

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
        raise EvalError(f"{path}: exists but is not a readable results file ({e}); "
                        "move it away or use another --out") from None
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
    from coolchic.io.files import atomic_write

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, allow_nan=True)
            f.write("\n")

    atomic_write(out, write, force=True)


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


def evaluate_images(paths, lmbdas, steps, preset, recipe, out, crop=None, progress=True, *, seed: int = 0,
                    batch: bool = False, jobs: int = 1, log=None) -> dict:
    """Encode + decode every image at every lambda and keep results in `out` (results.json).

    paths: image files and/or directories of PNG/PPM/PGM images. lmbdas: rate-distortion
    trade-offs. steps: fitting steps (None: the preset's). preset: a `coolchic.presets` name.
    recipe: "c3" or "coolchic". crop: None, (H, W) or "HxW": fit the centred crop.
    batch: fit the images of one size together per lambda (coolchic.api.image.encode_images).
    jobs: (image, lambda) fits run concurrently, each its own fit (same files as jobs=1); on a
        2-core CPU two jobs finish ~1.3x sooner, but each row's encode_seconds then counts time
        shared with the other job.
    log: callable for one-line messages (default: print to stderr).

    Returns the results document (also written to `out` after every row). Rows already in
    `out` with the same (image, lambda, steps, preset, recipe, crop, seed) are kept, not redone.
    """
    from coolchic.api.image import encode_image, encode_images
    from coolchic.coding.image_codec import decode
    from coolchic.io.image import read_image
    from coolchic.presets import get_preset
    from coolchic.fitting.recipes import get_recipe

    say = log or (lambda msg: print(msg, file=sys.stderr))
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
    get_recipe(recipe, steps)  # fail early on an unknown recipe
    crop = parse_crop(crop)
    out = os.fspath(out)
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise EvalError(f"output directory {out_dir} does not exist")
    if jobs < 1:
        raise EvalError(f"jobs must be >= 1, got {jobs}")
    if batch and jobs > 1:
        raise EvalError("--batch and --jobs are two ways of fitting images together: choose one")
    if batch:
        say("coolchic eval: --batch fits same-size images together under vmap: on a CPU about as fast as fitting them "
            "one after the other; on a GPU not yet timed with images (4 seeds of one image: 0.35-0.59x the serial time "
            "on an H100; see coolchic.fitting.fit.batch_mode)")

    settings = {"steps": steps, "preset": preset, "recipe": recipe, "crop": _crop_str(crop), "seed": int(seed)}
    name = f"coolchic-jax {recipe} {preset} {steps} steps" + (f" crop {settings['crop']}" if crop else "")
    want = _settings(settings)

    old = load_results(out)
    rows: dict[tuple[str, float], dict] = {}
    if old is not None:
        for r in old["images"]:
            if isinstance(r, dict) and "image" in r and "lmbda" in r:
                rows[(str(r["image"]), float(r["lmbda"]))] = r
    todo = [(f, lm) for f in files for lm in lmbdas
            if not ((image_name(f), lm) in rows and _settings(rows[(image_name(f), lm)]) == want)]
    skipped = len(files) * len(lmbdas) - len(todo)
    if skipped:
        say(f"coolchic eval: {out}: {skipped} of {len(files) * len(lmbdas)} (image, lambda) rows already done, skipped")
    replaced = [(image_name(f), lm) for f, lm in todo if (image_name(f), lm) in rows]
    if replaced:
        say(f"coolchic eval: {len(replaced)} row(s) in {out} have other settings "
            f"(steps/preset/recipe/crop/seed) and will be fitted again and replaced")
    doc_settings = {"name": name, **settings}

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="fit", desc="eval", dynamic_ncols=True, position=0)
    mismatches = []
    config = p.config

    def record(f, img, lm, data, rep):
        key = (image_name(f), lm)
        enc_rec = rep.pop("_reconstruction")
        t0 = time.perf_counter()
        dec, header, info = decode(data)
        decode_wall = time.perf_counter() - t0
        same = bool(np.array_equal(dec.transpose(1, 2, 0), enc_rec))
        if not same:
            mismatches.append(key)
            warnings.warn(f"{key[0]} at lambda {lm:g}: decoded pixels differ from the encoder's reconstruction")
        n_pix = img.height * img.width
        rows[key] = {
            "image": key[0],
            "path": os.path.abspath(f),
            "lmbda": lm,
            "bpp": 8.0 * len(data) / n_pix,
            "bpp_estimated": rep["bpp_estimated"],
            "psnr": rep["psnr"],
            "ms_ssim": rep["ms_ssim"],
            "macs_per_pixel": rep["macs_per_pixel"],
            "bytes": len(data),
            "bytes_by_part": rep["bytes_by_part"],
            "encode_seconds": rep["encode_seconds"],
            "fit_seconds": rep["fit_seconds"],
            "decode_seconds": info.get("decode_seconds", decode_wall),
            "decoded_matches_encoder": same,
            **settings,
            "height": img.height,
            "width": img.width,
            "n_pixels": n_pix,
            "channels": img.channels,
            "bit_depth": img.bit_depth,
        }
        _write_results(out, _document(list(rows.values()), doc_settings))
        if bar is not None:
            bar.set_postfix_str(f"bpp={rows[key]['bpp']:.3f} psnr={rep['psnr']:.2f}")
            bar.update(1)

    def load(f):
        return centre_crop(read_image(f), crop, f)

    try:
        if batch:  # same-size images of one lambda fitted together under vmap
            imgs = {f: load(f) for f in dict.fromkeys(f for f, _ in todo)}
            groups: dict = {}
            for f, lm in todo:
                im = imgs[f]
                groups.setdefault((lm, im.height, im.width, im.channels), []).append(f)
            for (lm, *_), fs in groups.items():
                if bar is not None:
                    bar.set_description_str(f"eval {len(fs)} image(s) lambda={lm:g}")
                coded = encode_images([imgs[f] for f in fs], config, lmbda=lm, steps=steps, recipe=recipe,
                                      seed=seed, progress=progress, batch="vmap")
                for f, (data, rep) in zip(fs, coded):
                    record(f, imgs[f], lm, data, rep)
        elif jobs > 1:
            from coolchic.fitting.threads import as_completed

            def job(item):
                f, lm = item
                img = load(f)
                return img, encode_image(img, config, lmbda=lm, steps=steps, recipe=recipe, seed=seed, progress=False)

            if bar is not None:
                bar.set_description_str(f"eval ({jobs} jobs)")
            for i, (img, (data, rep)) in as_completed(job, todo, jobs):
                record(todo[i][0], img, todo[i][1], data, rep)
        else:
            current_file, img = None, None
            for f, lm in todo:
                if f != current_file:
                    img = load(f)
                    current_file = f
                if bar is not None:
                    bar.set_description_str(f"eval {image_name(f)} lambda={lm:g}")
                data, rep = encode_image(img, config, lmbda=lm, steps=steps, recipe=recipe, seed=seed,
                                         progress=progress)
                record(f, img, lm, data, rep)
    finally:
        if bar is not None:
            bar.close()
    doc = _document(list(rows.values()), doc_settings)
    if old != doc:  # nothing new (a finished re-run): the file is left exactly as it was
        _write_results(out, doc)
    doc["mismatches"] = mismatches  # not in the file: a summary of this run
    return doc


def bd_rate_line(results: str, anchor: str, method: str = "cubic") -> str:
    """One line with the BD-rate of the results file against an anchor curve, or "n/a: reason"."""
    from coolchic.evaluation.anchors import CurveError, load_curve
    from coolchic.evaluation.bdrate import compare

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
    return (f"BD-rate vs {a.name} ({method}): {r['bd_rate_percent']:+.2f} % over PSNR {lo:.2f}-{hi:.2f} dB "
            f"(averaging {r['test_aggregation']} vs {r['anchor_aggregation']})")


def format_means(doc: dict) -> str:
    """A small table of the per-lambda means."""
    lines = [f"{'lambda':>10} {'images':>6} {'bpp':>8} {'bpp_est':>8} {'psnr':>7} {'ms_ssim':>7} "
             f"{'enc_s':>8} {'dec_s':>7}"]
    for m in doc["means"]:
        ms = "-" if m["ms_ssim"] is None else f"{m['ms_ssim']:.4f}"
        lines.append(f"{m['lmbda']:>10.4g} {m['n_images']:>6d} {m['bpp']:>8.4f} {m['bpp_estimated']:>8.4f} "
                     f"{m['psnr']:>7.3f} {ms:>7} {m['encode_seconds']:>8.2f} {m['decode_seconds']:>7.3f}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line


def cmd_eval(args) -> int:
    if args.anchor:  # fail before hours of fitting, not after
        from coolchic.evaluation.anchors import load_curve

        load_curve(args.anchor)
    doc = evaluate_images(args.inputs, args.lmbda, args.steps, args.preset, args.recipe, args.out,
                          crop=args.crop, progress=not args.quiet, seed=args.seed, batch=args.batch,
                          jobs=args.jobs)
    print(f"{doc['name']}: {len({r['image'] for r in doc['images']})} image(s); means per lambda "
          f"(bpp from file bytes, PSNR averaged per image):")
    print(format_means(doc))
    if args.anchor:
        print(bd_rate_line(args.out, args.anchor, method="cubic"))
    print(f"wrote {args.out}")
    if doc["mismatches"]:
        bad = ", ".join(f"{i}@{lm:g}" for i, lm in doc["mismatches"])
        print(f"coolchic eval: error: decoded pixels differ from the encoder's for {bad}", file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers):
    """Add the `eval` subcommand (with func=cmd_eval) to the CLI's subparsers."""
    from coolchic.cli.main import _positive_float, _positive_int
    from coolchic.presets import PRESETS

    e = subparsers.add_parser(
        "eval",
        help="encode + decode images at several lambdas; per-image and mean bpp/PSNR/time to results.json",
        description="For every image and lambda: fit, write the real bitstream (in memory), decode it, check "
        "the decoded pixels equal the encoder's reconstruction, and record bpp (from the file bytes), estimated "
        "bpp, PSNR, MS-SSIM, MACs/pixel and encode/decode seconds. Per-lambda means: total bits / total pixels "
        "and the mean of per-image PSNR (as CompressAI and C3 average). RESULTS is rewritten atomically after "
        "every row; running again skips the rows already there with the same steps/preset/recipe/crop/seed.",
    )
    e.add_argument("inputs", nargs="+", metavar="DIR_OR_FILE",
                   help="PNG/PPM/PGM files, or directories of them (not recursive)")
    e.add_argument("--lmbda", type=_positive_float, nargs="+", required=True, metavar="L",
                   help="one or more rate-distortion trade-offs")
    e.add_argument("--steps", type=_positive_int, default=None, help="fitting steps (default: the preset's)")
    e.add_argument("--preset", default="c3-kodak", choices=sorted(PRESETS))
    e.add_argument("--recipe", default="c3", choices=["coolchic", "c3"])
    e.add_argument("--crop", default=None, metavar="HxW", help="fit the centred HxW crop of each image (fast studies)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", required=True, metavar="RESULTS.json", help="results file (created or resumed)")
    e.add_argument("--anchor", metavar="FILE", help="print the BD-rate (cubic) of the results against this curve "
                   "(.json CompressAI, .csv C3, .tsv Cool-chic, or a results.json)")
    e.add_argument("--batch", action="store_true",
                   help="fit the images of one size together, per lambda, in one vmapped loop (on a CPU about "
                   "as fast as one after the other; not yet timed on a GPU, where 4 seeds of one image "
                   "vmapped take 0.35-0.59x the serial time)")
    e.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="run N (image, lambda) fits concurrently (CPU: 2 jobs on 2 cores finish ~1.3x sooner; "
                        "each row's encode_seconds then shares the cores)")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_eval)
    return e
