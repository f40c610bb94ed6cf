"""Read published and self-made rate-distortion curves into one :class:`Curve` type.

Formats (``load_curve`` picks the reader from the suffix and, for JSON, the content):

* CompressAI results JSON: ``{"name", "results": {"bpp", "psnr-rgb", "ms-ssim-rgb"}}``,
  already averaged by the publisher (per-image PSNR, then the mean over images);
* C3 CSV ``rd_*.csv``: header ``bpp,psnr``, one averaged point per row (same averaging);
* Cool-chic TSV: one row per (image, lambda) with ``lmbda, seq_name, n_pixels, psnr_db,
  rate_bpp``; averaged here (see :func:`read_coolchic_tsv`);
* this library's ``results.json``: ``{"images": [{"image", "lmbda", "bpp", "psnr",
  "ms_ssim"?}, ...]}``; averaged here (see :func:`read_results_json`).

How a curve was averaged changes BD-rates by a few tenths of a percent, so every
``Curve`` records it in ``aggregation``: ``"mean-psnr"`` (mean of per-image PSNR, as
CompressAI and C3 publish) or ``"mse"`` (PSNR of the pixel-weighted mean MSE, as
Cool-chic's summaries do).  Rates are always total bits / total pixels where the
per-image sizes are known, and the plain mean of per-image bpp otherwise.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

AGGREGATIONS = ("mse", "psnr")


class CurveError(ValueError):
    """A curve file is missing or unreadable, or two curves cannot be compared.

    The message is one line, meant to be printed as-is by the command line.
    """


@dataclass(frozen=True, eq=False)
class Curve:
    """One rate-distortion curve: points sorted by increasing rate.

    ``bpp`` and ``psnr`` (dB) are float64 arrays of equal length; ``ms_ssim`` (linear,
    not dB) is ``None`` when the source has no MS-SSIM.  ``lmbda`` holds the
    rate-distortion trade-offs when known.
    """

    name: str
    bpp: np.ndarray
    psnr: np.ndarray
    ms_ssim: np.ndarray | None = None
    aggregation: str = "mean-psnr"
    source: str | None = None
    lmbda: np.ndarray | None = field(default=None)

    def __post_init__(self):
        bpp = np.asarray(self.bpp, dtype=np.float64).reshape(-1)
        psnr = np.asarray(self.psnr, dtype=np.float64).reshape(-1)
        extra = {"ms_ssim": self.ms_ssim, "lmbda": self.lmbda}
        if bpp.shape != psnr.shape:
            raise CurveError(f"{self.name}: {bpp.size} rates but {psnr.size} PSNR values")
        for key, arr in extra.items():
            if arr is not None:
                arr = np.asarray(arr, dtype=np.float64).reshape(-1)
                if arr.shape != bpp.shape:
                    raise CurveError(f"{self.name}: {arr.size} {key} values for {bpp.size} points")
                extra[key] = arr
        order = np.argsort(bpp, kind="stable")
        object.__setattr__(self, "bpp", bpp[order])
        object.__setattr__(self, "psnr", psnr[order])
        for key, arr in extra.items():
            object.__setattr__(self, key, None if arr is None else arr[order])

    def __len__(self) -> int:
        return int(self.bpp.size)


# --------------------------------------------------------------------------- helpers


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise CurveError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CurveError(f"{path}: is a directory, not a curve file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CurveError(f"{path}: cannot read ({type(e).__name__}: {e})") from None


def _read_json(path: str) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise CurveError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def _float(value: Any, path: str, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CurveError(f"{path}: {what} is not a number: {value!r}") from None


def _psnr_to_mse(psnr_db: np.ndarray) -> np.ndarray:
    return np.power(10.0, -np.asarray(psnr_db, dtype=np.float64) / 10.0)


def _mse_to_psnr(mse: float) -> float:
    return float("inf") if mse <= 0 else float(-10.0 * math.log10(mse))


def _check_aggregate(aggregate: str) -> str:
    if aggregate not in AGGREGATIONS:
        raise CurveError(f"unknown aggregation {aggregate!r}; use 'mse' or 'psnr'")
    return aggregate


def _aggregate(rows: list[dict], aggregate: str, path: str, name: str, source: str) -> Curve:
    """Average per-image rows (keys lmbda, image, bpp, psnr, pixels?, ms_ssim?) per lambda.

    Every lambda must cover the same images: a curve averaged over different image
    sets is not a curve.
    """
    _check_aggregate(aggregate)
    if not rows:
        raise CurveError(f"{path}: no per-image rows")
    groups: OrderedDict[float, list[dict]] = OrderedDict()
    for r in rows:
        groups.setdefault(r["lmbda"], []).append(r)
    image_sets = {lm: sorted(r["image"] for r in g) for lm, g in groups.items()}
    ref_lm, ref = next(iter(image_sets.items()))
    for lm, imgs in image_sets.items():
        if imgs != ref:
            raise CurveError(
                f"{path}: lambda {lm:g} has {len(imgs)} image(s), lambda {ref_lm:g} has {len(ref)}; "
                "per-lambda averages would cover different images"
            )
        if len(set(imgs)) != len(imgs):
            raise CurveError(f"{path}: an image appears twice at lambda {lm:g}")
    bpp, psnr, msssim, lmbdas = [], [], [], []
    for lm, g in groups.items():
        rate = np.array([r["bpp"] for r in g])
        p = np.array([r["psnr"] for r in g])
        pixels = [r.get("pixels") for r in g]
        w = np.array(pixels, dtype=np.float64) if all(x is not None for x in pixels) else np.ones(len(g))
        w = w / w.sum()
        bpp.append(float(np.sum(w * rate)))
        psnr.append(_mse_to_psnr(float(np.sum(w * _psnr_to_mse(p)))) if aggregate == "mse" else float(np.mean(p)))
        ms = [r.get("ms_ssim") for r in g]
        msssim.append(float(np.mean(ms)) if all(m is not None for m in ms) else None)
        lmbdas.append(lm)
    ms_arr = None if any(m is None for m in msssim) else msssim
    return Curve(
        name=name,
        bpp=bpp,
        psnr=psnr,
        ms_ssim=ms_arr,
        aggregation="mse" if aggregate == "mse" else "mean-psnr",
        source=source,
        lmbda=lmbdas,
    )


# --------------------------------------------------------------------------- readers


def read_compressai_json(path: str, name: str | None = None) -> Curve:
    """CompressAI results file (``results.bpp``, ``results.psnr-rgb``, MS-SSIM optional).

    ``ms-ssim-rgb`` is linear; ``ms-ssim-db-rgb`` (the "paper-*" files) is converted
    back to linear.  Files with MS-SSIM but no PSNR are refused: BD here is on PSNR.
    """
    data = _read_json(path)
    res = data.get("results") if isinstance(data, dict) else None
    if not isinstance(res, dict) or "bpp" not in res:
        raise CurveError(f"{path}: not a CompressAI results file (no results.bpp)")
    psnr_key = next((k for k in ("psnr-rgb", "psnr") if k in res), None)
    if psnr_key is None:
        raise CurveError(f"{path}: has no results.psnr-rgb (keys: {', '.join(sorted(res))})")
    ms = None
    if "ms-ssim-rgb" in res:
        ms = res["ms-ssim-rgb"]
    elif "ms-ssim-db-rgb" in res:
        ms = 1.0 - np.power(10.0, -np.asarray(res["ms-ssim-db-rgb"], dtype=np.float64) / 10.0)
    try:
        return Curve(
            name=name or str(data.get("name") or _stem(path)),
            bpp=res["bpp"],
            psnr=res[psnr_key],
            ms_ssim=ms,
            aggregation="mean-psnr",
            source=os.fspath(path),
        )
    except (TypeError, ValueError) as e:
        raise CurveError(f"{path}: bad values ({e})") from None


def read_c3_csv(path: str, name: str | None = None) -> Curve:
    """C3 curve CSV with header ``bpp,psnr`` (already averaged over images)."""
    rows = list(csv.DictReader(_read_text(path).splitlines()))
    if not rows or not {"bpp", "psnr"} <= set(rows[0]):
        header = ",".join(rows[0]) if rows else "empty file"
        hint = "; this is a MACs/BD-rate table, see read_macs_csv" if rows and "macspp" in rows[0] else ""
        raise CurveError(f"{path}: expected a CSV with columns bpp,psnr (got {header}){hint}")
    bpp = [_float(r["bpp"], path, "bpp") for r in rows]
    psnr = [_float(r["psnr"], path, "psnr") for r in rows]
    return Curve(name=name or _stem(path), bpp=bpp, psnr=psnr, aggregation="mean-psnr", source=os.fspath(path))


def read_macs_csv(path: str) -> list[dict]:
    """C3 complexity table ``bdrate,macspp,method`` as ``[{"method", "macs_per_pixel", "bd_rate"}]``."""
    rows = list(csv.DictReader(_read_text(path).splitlines()))
    if not rows or not {"bdrate", "macspp", "method"} <= set(rows[0]):
        raise CurveError(f"{path}: expected a CSV with columns bdrate,macspp,method")
    return [
        {
            "method": r["method"],
            "macs_per_pixel": _float(r["macspp"], path, "macspp"),
            "bd_rate": _float(r["bdrate"], path, "bdrate"),
        }
        for r in rows
    ]


def read_coolchic_rows(path: str) -> list[dict]:
    """All per-image rows of a Cool-chic TSV as dicts (lmbda, image, pixels, psnr, bpp).

    Columns are found by header name (v4.2 and v5.0 order them differently).
    """
    lines = [ln for ln in _read_text(path).splitlines() if ln.strip()]
    if not lines:
        raise CurveError(f"{path}: empty file")
    header = [h.strip() for h in lines[0].split("\t")]
    need = ("lmbda", "seq_name", "n_pixels", "psnr_db", "rate_bpp")
    missing = [c for c in need if c not in header]
    if missing:
        raise CurveError(f"{path}: not a Cool-chic TSV (missing column(s) {', '.join(missing)})")
    idx = {c: header.index(c) for c in need}
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) < len(header):
            raise CurveError(f"{path}: line {n} has {len(cells)} cells, header has {len(header)}")
        rows.append(
            {
                "lmbda": _float(cells[idx["lmbda"]], path, f"lmbda on line {n}"),
                "image": cells[idx["seq_name"]].strip(),
                "pixels": _float(cells[idx["n_pixels"]], path, f"n_pixels on line {n}"),
                "psnr": _float(cells[idx["psnr_db"]], path, f"psnr_db on line {n}"),
                "bpp": _float(cells[idx["rate_bpp"]], path, f"rate_bpp on line {n}"),
            }
        )
    return rows


def read_coolchic_tsv(path: str, aggregate: str = "mse", name: str | None = None) -> Curve:
    """Cool-chic per-image TSV averaged per lambda into one dataset curve.

    Rate is total bits / total pixels.  ``aggregate="mse"`` (default, Cool-chic's own
    summary) gives the PSNR of the pixel-weighted mean MSE; ``"psnr"`` the mean of
    per-image PSNRs (CompressAI/C3 style; use it to compare against their curves).
    """
    return _aggregate(read_coolchic_rows(path), aggregate, path, name or _stem(path), os.fspath(path))


def coolchic_images(path: str) -> list[str]:
    """Image (``seq_name``) names of a Cool-chic TSV, in file order."""
    return list(OrderedDict.fromkeys(r["image"] for r in read_coolchic_rows(path)))


def coolchic_image_curve(path: str, seq_name: str) -> Curve:
    """The curve of one image of a Cool-chic TSV (its rows, one per lambda)."""
    rows = [r for r in read_coolchic_rows(path) if r["image"] == seq_name]
    if not rows:
        raise CurveError(f"{path}: no rows for seq_name {seq_name!r}")
    return Curve(
        name=seq_name,
        bpp=[r["bpp"] for r in rows],
        psnr=[r["psnr"] for r in rows],
        aggregation="single-image",
        source=os.fspath(path),
        lmbda=[r["lmbda"] for r in rows],
    )


def read_results_json(path: str, aggregate: str = "psnr", name: str | None = None) -> Curve:
    """This library's ``results.json`` averaged per ``lmbda``.

    Default: mean bpp and mean per-image PSNR (as CompressAI/C3 average, so BD-rates
    against their anchors compare like with like); ``aggregate="mse"`` as Cool-chic.
    Rates are pixel-weighted only when every image row has ``n_pixels``.
    """
    data = _read_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise CurveError(f"{path}: not a results file (no 'images' list)")
    rows = []
    for i, im in enumerate(images):
        if not isinstance(im, dict):
            raise CurveError(f"{path}: images[{i}] is not an object")
        missing = [k for k in ("lmbda", "bpp", "psnr") if im.get(k) is None]
        if missing:
            raise CurveError(f"{path}: images[{i}] lacks {', '.join(missing)}")
        rows.append(
            {
                "lmbda": _float(im["lmbda"], path, f"images[{i}].lmbda"),
                "image": str(im.get("image", i)),
                "bpp": _float(im["bpp"], path, f"images[{i}].bpp"),
                "psnr": _float(im["psnr"], path, f"images[{i}].psnr"),
                "pixels": None if im.get("n_pixels") is None else _float(im["n_pixels"], path, f"images[{i}].n_pixels"),
                "ms_ssim": None if im.get("ms_ssim") is None else _float(im["ms_ssim"], path, f"images[{i}].ms_ssim"),
            }
        )
    default = str(data.get("name") or data.get("codec") or _stem(path))
    return _aggregate(rows, aggregate, path, name or default, os.fspath(path))


def load_curve(path: str, name: str | None = None, aggregate: str | None = None) -> Curve:
    """Read any supported curve file, choosing the reader by suffix and JSON content.

    ``aggregate`` ("mse" or "psnr") applies to per-image formats only (Cool-chic TSV,
    results.json); ``None`` keeps each reader's default.  Published curves are already
    averaged and keep their publisher's averaging.
    """
    path = os.fspath(path)
    if aggregate is not None:
        _check_aggregate(aggregate)
    if not os.path.exists(path):
        raise CurveError(f"{path}: no such file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".csv":
        return read_c3_csv(path, name=name)
    if suffix == ".tsv":
        return read_coolchic_tsv(path, aggregate=aggregate or "mse", name=name)
    if suffix == ".json":
        data = _read_json(path)
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            return read_results_json(path, aggregate=aggregate or "psnr", name=name)
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            return read_compressai_json(path, name=name)
        raise CurveError(f"{path}: JSON is neither a CompressAI results file nor a results.json ('images')")
    raise CurveError(f"{path}: unknown curve format {suffix or '(no suffix)'!r}; expected .json, .csv or .tsv")


def load_curves(paths: Iterable[str], aggregate: str | None = None) -> list[Curve]:
    """:func:`load_curve` on each path."""
    return [load_curve(p, aggregate=aggregate) for p in paths]
