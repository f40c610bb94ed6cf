"""Typed results of fit, encode, decode and eval: dataclasses with one `to_json()`.

Array layout: models and codecs work channels-first, (C, H, W) or (C, T, H, W); reports, like
files and `coolchic.io`, are channels-last: an image reconstruction is (H, W, C) floats in
[0, 1] on the file's bit-depth grid, a video reconstruction (T, H, W, 3) uint8. Reconstructions
are never written to JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

_NOT_JSON = {"json": False}


def not_json(default=None):
    """A field kept on the report but left out of `to_json()` (arrays, big objects)."""
    return dataclasses.field(default=default, repr=False, compare=False, metadata=_NOT_JSON)


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


@dataclasses.dataclass
class Report:
    """Base of every report: `to_json()` gives the JSON object written by `--json`."""

    def to_json(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("json", True):
                v = getattr(self, f.name)
                if v is not None or not f.metadata.get("optional", False):
                    out[f.name] = _plain(v)
        return out


def optional(default=None):
    """A field left out of `to_json()` while it is None (set by the CLI: file names, preset)."""
    return dataclasses.field(default=default, metadata={"optional": True})


@dataclasses.dataclass
class FitReport(Report):
    """`coolchic fit`: estimated rates of a fit (no bitstream), before weight quantization."""

    bpp_estimated: float
    bpp_latents: float
    bpp_weights_estimated: float
    weights_estimate: str
    psnr: float
    macs_per_pixel: float
    steps: int
    fit_seconds: float
    lmbda: float
    recipe: str
    height: int
    width: int
    candidates: list
    chosen_seed: int
    preset: str | None = optional()
    image: str | None = optional()
    reconstruction: np.ndarray | None = not_json()  # (H, W, C) floats in [0, 1]


@dataclasses.dataclass
class EncodeReport(Report):
    """`coolchic encode` of an image: rates from the file's bytes, distortion of what decodes."""

    bpp: float
    bpp_estimated: float
    psnr: float
    ms_ssim: float | None
    macs_per_pixel: float
    bytes: int
    bytes_by_part: dict
    steps: int
    encode_seconds: float
    fit_seconds: float
    lmbda: float
    recipe: str
    psnr_before_weight_quantization: float
    bpp_latents_estimated: float
    quantization_steps: dict
    candidates: list
    chosen_seed: int
    height: int
    width: int
    channels: int
    bit_depth: int
    colour: str = "rgb"  # coolchic.model.colour: "rgb", "yuv444", "yuv420" (psnr over its coded samples)
    preset: str | None = optional()
    input: str | None = optional()
    output: str | None = optional()
    reconstruction: np.ndarray | None = not_json()  # (H, W, C): exactly what decoding the bytes gives


@dataclasses.dataclass
class VideoEncodeReport(Report):
    """`coolchic encode` of a video: one file of spatio-temporal patches."""

    bytes: int
    bytes_by_part: dict
    bpp: float
    bpp_estimated: float
    bpp_latents_estimated: float
    psnr: float  # C3's: mean over frames of the RGB PSNR
    psnr_yuv: dict  # y, u, v, yuv611
    macs_per_pixel: float
    frames: int
    height: int
    width: int
    patches: int
    offsets: list
    steps: int
    lmbda: float
    recipe: str
    encode_seconds: float
    preset: str | None = optional()
    input: str | None = optional()
    output: str | None = optional()
    reconstruction: np.ndarray | None = not_json()  # (T, H, W, 3) uint8: what decoding gives


@dataclasses.dataclass
class DecodeReport(Report):
    """`coolchic decode` of an image or a video stream."""

    decode_seconds: float
    height: int
    width: int
    frames: int
    channels: int
    bytes_by_part: dict
    bit_depth: int | None = optional()
    chroma: str | None = optional()  # videos: the source's chroma ("420", "444"), None for RGB
    colour: str | None = optional()  # images: coolchic.model.colour's output format
    output: str | None = optional()
    weights_seconds: float | None = optional()
    latents_seconds: float | None = optional()
    synthesis_seconds: float | None = optional()


@dataclasses.dataclass
class EvalRow(Report):
    """One (image, lambda) row of `coolchic eval`'s results.json."""

    image: str
    path: str
    lmbda: float
    bpp: float  # file bytes x 8 / pixels
    bpp_estimated: float
    psnr: float
    ms_ssim: float | None
    macs_per_pixel: float
    bytes: int
    bytes_by_part: dict
    encode_seconds: float  # fit + coding; the first fit of a shape also pays XLA compilation
    fit_seconds: float
    decode_seconds: float
    decoded_matches_encoder: bool
    steps: int
    preset: str
    recipe: str
    crop: str | None
    seed: int
    height: int
    width: int
    n_pixels: int
    channels: int
    bit_depth: int
