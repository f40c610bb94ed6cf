"""Images end to end: fit, encode to .cool bytes, decode; what the CLI, notebooks and benchmarks call."""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from coolchic.coding import image_codec
from coolchic.config import ModelConfig
from coolchic.evaluation.metrics import ms_ssim, psnr_from_mse
from coolchic.fitting.candidates import fit, fit_batch
from coolchic.fitting.recipes import DEFAULT_RECIPE, get_recipe
from coolchic.fitting.result import FitResult, evaluate
from coolchic.fitting.searches import DEFAULT_SEARCH, SEARCHES
from coolchic.io.image import Image, to_integers
from coolchic.model import colour
from coolchic.model.contract import network_params
from coolchic.model.macs import macs_per_pixel
from coolchic.reports import DecodeReport, EncodeReport, FitReport

# `coolchic fit` writes no bitstream: it states this cost of the network weights instead.
WEIGHT_BITS_ESTIMATE = 8.0


def image_to_chw(img: Image) -> np.ndarray:
    return np.ascontiguousarray(img.pixels.transpose(2, 0, 1))


def image_config(config: ModelConfig, img: Image, lmbda: float) -> ModelConfig:
    """The configuration fitted to this image: the family's choices for its size and lambda, and
    the decoder output format of its colour."""
    return dataclasses.replace(
        config.for_image(img.channels, img.height, img.width, lmbda), colour=img.colour, output_range=output_range(img)
    )


def output_range(img: Image) -> tuple:
    """Cool-chic 5's YUV output transform: each plane's (min, max), in samples of its bit depth
    (exact in the header); () for RGB or planes that span the whole range."""
    if img.colour == "rgb":
        return ()
    maxval = (1 << img.bit_depth) - 1
    q = to_integers(img.pixels, img.bit_depth).reshape(-1, img.channels)
    pairs = tuple((int(lo) / maxval, int(hi) / maxval) for lo, hi in zip(q.min(0), q.max(0)))
    return () if all(p == (0.0, 1.0) for p in pairs) else pairs


def quality(orig: np.ndarray, rec: np.ndarray, colour_format: str) -> dict:
    """PSNR over the coded samples (coolchic.model.colour: Cool-chic 5's for YUV 4:2:0) and
    MS-SSIM (of Y alone for YUV), of (H, W, C) images."""
    chw = lambda x: np.asarray(x, np.float64).transpose(2, 0, 1)
    mse = float(colour.mse(chw(rec), chw(orig), colour_format))
    yuv = colour_format != "rgb"
    return {
        "psnr": psnr_from_mse(mse),
        "ms_ssim": ms_ssim(orig[..., :1] if yuv else orig, rec[..., :1] if yuv else rec),
    }


def n_network_params(params: dict) -> int:
    return int(sum(np.size(x) for x in jax.tree.leaves(network_params(params))))


def fit_image(
    img: Image,
    config: ModelConfig,
    *,
    lmbda: float,
    steps: int,
    recipe: str = DEFAULT_RECIPE,
    seed: int = 0,
    candidates: int = 1,
    adaptive: bool = False,
    progress: bool = True,
    checkpoint_dir: str | None = None,
    prune_after: int | None = None,
    keep: int = 1,
) -> tuple[FitResult, FitReport]:
    """Fit one image; returns the fit and its report (estimated bpp, PSNR, MACs/pixel, time).

    candidates > 1 fits that many seeds (coolchic.fitting.candidates.batch_mode says how) and keeps
    the best RD cost; prune_after: only the `keep` best seeds after that many steps go on (early
    pruning); adaptive also tries the alternative architectures of the registered search
    (`c3-adaptive`: C3's), each with the same seeds, and keeps the best of all.
    """
    config = image_config(config, img, lmbda)
    x = image_to_chw(img)
    t0 = time.perf_counter()
    seeds = list(range(seed, seed + candidates))
    prune = (prune_after, keep) if prune_after else None
    rec = get_recipe(recipe, steps, lmbda)
    if adaptive:
        search = SEARCHES.lookup(DEFAULT_SEARCH)
        result = search(x, config, rec, lmbda, seeds=seeds, progress=progress, prune=prune)
    else:
        result = fit(x, config, rec, lmbda, seeds=seeds, progress=progress, checkpoint_dir=checkpoint_dir, prune=prune)
    return result, fit_report(img, result, lmbda, recipe, time.perf_counter() - t0)


def fit_report(img: Image, result: FitResult, lmbda: float, recipe: str, seconds: float) -> FitReport:
    """The report of a fit: hard-rounded latents under the float ARM, weights at WEIGHT_BITS_ESTIMATE."""
    ev = evaluate(result.params, result.config, image_to_chw(img))
    n_pix = img.height * img.width
    weight_bits = n_network_params(result.params) * WEIGHT_BITS_ESTIMATE
    return FitReport(
        bpp_estimated=ev["bpp_latents"] + weight_bits / n_pix,
        bpp_latents=ev["bpp_latents"],
        bpp_weights_estimated=weight_bits / n_pix,
        weights_estimate=f"{WEIGHT_BITS_ESTIMATE:g} bits per network parameter",
        psnr=ev["psnr"],
        macs_per_pixel=macs_per_pixel(result.config, img.height, img.width)["total"],
        steps=result.steps,
        fit_seconds=seconds,
        lmbda=lmbda,
        recipe=recipe,
        height=img.height,
        width=img.width,
        candidates=result.candidates,
        chosen_seed=result.candidates[result.chosen]["seed"],
        reconstruction=ev["reconstruction"].transpose(1, 2, 0),
    )


def encode_image(
    img: Image,
    config: ModelConfig,
    *,
    lmbda: float,
    steps: int,
    recipe: str = DEFAULT_RECIPE,
    seed: int = 0,
    candidates: int = 1,
    adaptive: bool = False,
    progress: bool = True,
    checkpoint_dir: str | None = None,
    prune_after: int | None = None,
    keep: int = 1,
) -> tuple[bytes, EncodeReport]:
    """Fit and code an image: the file's bytes and the encode report, whose `reconstruction`
    (H, W, C) is exactly what decoding the bytes gives."""
    t0 = time.perf_counter()
    result, fitted = fit_image(
        img,
        config,
        lmbda=lmbda,
        steps=steps,
        recipe=recipe,
        seed=seed,
        candidates=candidates,
        adaptive=adaptive,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        prune_after=prune_after,
        keep=keep,
    )
    return code_fit(img, result, fitted, t0)


def encode_images(
    imgs: list[Image],
    config: ModelConfig,
    *,
    lmbda: float,
    steps: int,
    recipe: str = DEFAULT_RECIPE,
    seed: int = 0,
    progress: bool = True,
    batch: str | None = None,
) -> list[tuple[bytes, EncodeReport]]:
    """encode_image for several images of one size, fitted as coolchic.fitting.candidates.fit_batch
    does (batch: see batch_mode). encode_seconds and fit_seconds are each image's share of the batch's time."""
    shapes = {(im.height, im.width, im.channels, im.colour, output_range(im)) for im in imgs}
    if len(shapes) != 1:
        raise ValueError(
            f"encode_images needs images of one size, colour format and (YUV) plane ranges, got {sorted(shapes)}"
        )
    config = image_config(config, imgs[0], lmbda)
    t0 = time.perf_counter()
    results = fit_batch(
        [image_to_chw(im) for im in imgs],
        config,
        get_recipe(recipe, steps, lmbda),
        lmbda,
        seed,
        progress=progress,
        batch=batch,
    )
    share = (time.perf_counter() - t0) / len(imgs)
    out = []
    for im, r in zip(imgs, results):
        t1 = time.perf_counter() - share
        out.append(code_fit(im, r, fit_report(im, r, lmbda, recipe, share), t1))
    return out


def code_fit(img: Image, result: FitResult, fitted: FitReport, t0: float) -> tuple[bytes, EncodeReport]:
    """Quantize and code a fitted image: (file bytes, encode report); t0 = when its fit started."""
    data, coded = image_codec.encode(
        result.params, result.config, image_to_chw(img), img.bit_depth, fitted.lmbda, rdoq=result.rdoq
    )
    rec = coded["reconstruction"].transpose(1, 2, 0)
    orig = to_integers(img.pixels, img.bit_depth).astype(np.float64) / ((1 << img.bit_depth) - 1)
    report = EncodeReport(
        bpp=coded["bpp"],
        bpp_estimated=coded["bpp_estimated"],
        **quality(orig, rec, img.colour),
        macs_per_pixel=fitted.macs_per_pixel,
        bytes=coded["bytes"],
        bytes_by_part=coded["bytes_by_part"],
        steps=result.steps,
        encode_seconds=time.perf_counter() - t0,
        fit_seconds=fitted.fit_seconds,
        lmbda=fitted.lmbda,
        recipe=fitted.recipe,
        psnr_before_weight_quantization=fitted.psnr,
        bpp_latents_estimated=coded["bpp_latents_estimated"],
        quantization_steps=coded["quantization_steps"],
        candidates=fitted.candidates,
        chosen_seed=fitted.chosen_seed,
        height=img.height,
        width=img.width,
        channels=img.channels,
        bit_depth=img.bit_depth,
        colour=img.colour,
        reconstruction=rec,
    )
    return data, report


def decode_image(data: bytes) -> tuple[Image, DecodeReport]:
    """Decode .cool image bytes: the Image (H, W, C) on the file's bit-depth grid, and a report."""
    rec, header, info = image_codec.decode(data)
    report = DecodeReport(
        decode_seconds=info["decode_seconds"],
        height=header.height,
        width=header.width,
        frames=1,
        channels=header.channels,
        colour=header.config.colour,
        bytes_by_part=info["bytes_by_part"],
        bit_depth=header.bit_depth,
        weights_seconds=info["weights_seconds"],
        latents_seconds=info["latents_seconds"],
        synthesis_seconds=info["synthesis_seconds"],
    )
    return Image(np.ascontiguousarray(rec.transpose(1, 2, 0)), header.bit_depth, header.config.colour), report
