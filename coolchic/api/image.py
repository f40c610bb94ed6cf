"""High-level helpers shared by the CLI, benchmarks and notebooks."""

from __future__ import annotations

import time

import numpy as np

from coolchic.config import ModelConfig
from coolchic.fitting.fit import FitResult, evaluate, fit, fit_batch
from coolchic.io.image import Image
from coolchic.model.macs import macs_per_pixel
from coolchic.model.image import network_params
from coolchic.fitting.recipes import get_recipe

# Until weights are actually quantized and coded (see coolchic.coding.image_format), `fit` reports this
# stated estimate of their cost.
WEIGHT_BITS_ESTIMATE = 8.0


def image_to_chw(img: Image) -> np.ndarray:
    return np.ascontiguousarray(img.pixels.transpose(2, 0, 1))


def n_network_params(params: dict) -> int:
    import jax

    return int(sum(np.size(x) for x in jax.tree.leaves(network_params(params))))


def fit_image(img: Image, config: ModelConfig, *, lmbda: float, steps: int, recipe: str = "c3",
              seed: int = 0, candidates: int = 1, adaptive: bool = False, progress: bool = True,
              checkpoint_dir: str | None = None, prune_after: int | None = None,
              keep: int = 1) -> tuple[FitResult, dict]:
    """Fit one image; returns the fit and a report (estimated bpp, PSNR, MACs/pixel, time).

    candidates > 1 fits that many seeds (coolchic.fitting.fit.batch_mode says how) and keeps the best RD
    cost; prune_after: only the `keep` best seeds after that many steps go on (early pruning);
    adaptive also tries C3-style alternative architectures (c3.DEFAULT_ARCHITECTURES), each
    architecture's seeds fitted as above, and keeps the best of all.
    """
    config = config.with_channels(img.channels)
    x = image_to_chw(img)
    t0 = time.perf_counter()
    seeds = list(range(seed, seed + candidates))
    prune = (prune_after, keep) if prune_after else None
    if adaptive:
        from c3 import DEFAULT_ARCHITECTURES, fit_adaptive

        archs = (config, *[a for a in DEFAULT_ARCHITECTURES if a.with_channels(img.channels) != config])
        result = fit_adaptive(x, get_recipe(recipe, steps), lmbda, architectures=archs, seeds=seeds,
                              progress=progress, prune=prune).best
    else:
        result = fit(x, config, get_recipe(recipe, steps), lmbda, seeds=seeds, progress=progress,
                     checkpoint_dir=checkpoint_dir, prune=prune)
    return result, _fit_report(img, result, x, lmbda, recipe, time.perf_counter() - t0)


def _fit_report(img: Image, result: FitResult, x: np.ndarray, lmbda: float, recipe: str, seconds: float) -> dict:
    config = result.config
    ev = evaluate(result.params, config, x)
    n_pix = img.height * img.width
    weight_bits = n_network_params(result.params) * WEIGHT_BITS_ESTIMATE
    report = {
        "bpp_estimated": ev["bpp_latents"] + weight_bits / n_pix,
        "bpp_latents": ev["bpp_latents"],
        "bpp_weights_estimated": weight_bits / n_pix,
        "weights_estimate": f"{WEIGHT_BITS_ESTIMATE:g} bits per network parameter",
        "psnr": ev["psnr"],
        "macs_per_pixel": macs_per_pixel(config, img.height, img.width)["total"],
        "steps": result.steps,
        "fit_seconds": seconds,
        "lmbda": lmbda,
        "recipe": recipe,
        "height": img.height,
        "width": img.width,
        "candidates": result.candidates,
        "chosen_seed": result.candidates[result.chosen]["seed"],
    }
    return {**report, "_reconstruction": ev["reconstruction"]}


def encode_image(img: Image, config: ModelConfig, *, lmbda: float, steps: int, recipe: str = "c3",
                 seed: int = 0, candidates: int = 1, adaptive: bool = False, progress: bool = True,
                 checkpoint_dir: str | None = None, prune_after: int | None = None,
                 keep: int = 1) -> tuple[bytes, dict]:
    """Fit and code an image; returns the file bytes and the encode report (DESIGN section 4 keys)
    with "_reconstruction" (H, W, C) floats: exactly what decoding the bytes gives."""
    t0 = time.perf_counter()
    result, fit_report = fit_image(img, config, lmbda=lmbda, steps=steps, recipe=recipe, seed=seed,
                                   candidates=candidates, adaptive=adaptive, progress=progress,
                                   checkpoint_dir=checkpoint_dir, prune_after=prune_after, keep=keep)
    return _code(img, result, fit_report, lmbda, recipe, t0)


def encode_images(imgs: list[Image], config: ModelConfig, *, lmbda: float, steps: int, recipe: str = "c3",
                  seed: int = 0, progress: bool = True, batch: str | None = None) -> list[tuple[bytes, dict]]:
    """encode_image for several images of one size, fitted as coolchic.fitting.fit.fit_batch does (batch:
    see coolchic.fitting.fit.batch_mode). encode_seconds and fit_seconds are each image's share of the
    batch's time."""
    shapes = {(im.height, im.width, im.channels) for im in imgs}
    if len(shapes) != 1:
        raise ValueError(f"encode_images needs images of one size, got {sorted(shapes)}")
    config = config.with_channels(imgs[0].channels)
    xs = [image_to_chw(im) for im in imgs]
    t0 = time.perf_counter()
    results = fit_batch(xs, config, get_recipe(recipe, steps), lmbda, seed, progress=progress, batch=batch)
    share = (time.perf_counter() - t0) / len(imgs)
    out = []
    for im, x, r in zip(imgs, xs, results):
        t1 = time.perf_counter() - share
        out.append(_code(im, r, _fit_report(im, r, x, lmbda, recipe, share), lmbda, recipe, t1))
    return out


def _code(img: Image, result: FitResult, fit_report: dict, lmbda: float, recipe: str, t0: float):
    """Quantize and code a fitted image: (file bytes, encode report); t0 = when its fit started."""
    from coolchic.coding import image_codec as codec

    fit_report.pop("_reconstruction")
    config = result.config
    data, rep = codec.encode(result.params, config, image_to_chw(img), img.bit_depth, lmbda)
    rec = rep.pop("reconstruction").transpose(1, 2, 0)
    maxval = (1 << img.bit_depth) - 1
    from coolchic.io.image import to_integers
    from coolchic.evaluation.metrics import ms_ssim, psnr

    orig = to_integers(img.pixels, img.bit_depth).astype(np.float64) / maxval
    report = {
        "bpp": rep["bpp"],
        "bpp_estimated": rep["bpp_estimated"],
        "psnr": psnr(orig, rec),
        "ms_ssim": ms_ssim(orig, rec),
        "macs_per_pixel": fit_report["macs_per_pixel"],
        "bytes": rep["bytes"],
        "bytes_by_part": rep["bytes_by_part"],
        "steps": result.steps,
        "encode_seconds": time.perf_counter() - t0,
        "fit_seconds": fit_report["fit_seconds"],
        "lmbda": lmbda,
        "recipe": recipe,
        "psnr_before_weight_quantization": fit_report["psnr"],
        "bpp_latents_estimated": rep["bpp_latents_estimated"],
        "quantization_steps": rep["quantization_steps"],
        "candidates": fit_report["candidates"],
        "chosen_seed": fit_report["chosen_seed"],
        "height": img.height,
        "width": img.width,
        "channels": img.channels,
        "bit_depth": img.bit_depth,
    }
    return data, {**report, "_reconstruction": rec}
