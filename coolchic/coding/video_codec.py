"""Video coding: patches as independent models, 3D latents with the fixed-point ARM, host decoder.

A video is cut into spatio-temporal patches (config.patch; the last ones along each axis may be
smaller). Each patch is its own model, coded exactly like an image (coolchic.coding.image_codec's
weight quantization and coding, the fixed-point ARM, range-coded latents in wavefronts by
coolchic.coding.latent_coding, whose grids are (t, h, w) with a previous-frame window) and
reconstructed on the host in numpy by the one code path encoder and decoder share. The file
format is coolchic.coding.video_format.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from coolchic.coding import host_decoder
from coolchic.coding.errors import BitstreamError
from coolchic.coding.fixed_arm import arm_to_fixed
from coolchic.coding.image_codec import decode_weights, encode_weights, integer_latents, quantize_params, templates
from coolchic.coding.latent_coding import decode_latents, encode_latents
from coolchic.coding.video_format import PatchCode, VideoHeader, is_video_stream, pack, patch_boxes, unpack
from coolchic.config import VideoConfig
from coolchic.model.fit_space import to_model
from coolchic.model.video import grid_shapes, upsample

__all__ = [
    "encode_latents",
    "decode_latents",
    "reconstruct",
    "encode_patch",
    "decode_patch",
    "decode",
    # the file format, re-exported for older importers (coolchic.coding.video_format)
    "VideoHeader",
    "PatchCode",
    "is_video_stream",
    "pack",
    "patch_boxes",
    "unpack",
]


# ----------------------------------------------------------------------------- reconstruction


def reconstruct(deq: dict, latents: list, config: VideoConfig, frames: int, height: int, width: int) -> np.ndarray:
    """(C, T, H, W) in [0, 1], float32 numpy: the decoder's output (before 8-bit rounding)."""
    grids = [np.asarray(g, np.float32) for g in latents]
    feats = np.ascontiguousarray(upsample(grids, config, frames, height, width, xnp=np), np.float32)
    return host_decoder.synthesize(deq["synthesis"], feats, config)


def _to_8bit(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- patches


def encode_patch(params: dict, config: VideoConfig, patch: np.ndarray, lmbda: float):
    """(PatchCode, reconstruction uint8 (C, T, H, W), ideal latent bits) of a fitted patch."""
    _, t, h, w = patch.shape
    params = to_model(params, config)
    steps, ints, deq = quantize_params(params, config, patch, lmbda)
    codes, weight_words = encode_weights(ints)
    latents = integer_latents(params["latents"])
    latent_words, bits = encode_latents(latents, arm_to_fixed(deq["arm"]), config)
    offsets = tuple(config.offset(g) for g in range(config.n_grids))
    rec = _to_8bit(reconstruct(deq, latents, config, t, h, w))
    return PatchCode(offsets, steps, codes, weight_words, latent_words), rec, bits


def decode_patch(code: PatchCode, config: VideoConfig, t: int, h: int, w: int, max_batch=None) -> np.ndarray:
    config = dataclasses.replace(config, prev_offsets=code.offsets)
    deq = decode_weights(code.weight_words, templates(config, t, h, w), code.steps, code.codes)
    latents = decode_latents(
        code.latent_words, arm_to_fixed(deq["arm"]), config, grid_shapes(t, h, w, config.n_grids), max_batch
    )
    return _to_8bit(reconstruct(deq, latents, config, t, h, w))


# ----------------------------------------------------------------------------- decoding


def decode(data: bytes, max_batch: int | None = None) -> tuple[np.ndarray, VideoHeader, dict]:
    """(frames uint8 (T, H, W, C), header, info with timings and byte counts)."""
    t0 = time.perf_counter()
    header, patches, parts = unpack(data)
    boxes = patch_boxes(header.frames, header.height, header.width, header.config.patch)
    try:
        out = np.zeros((header.frames, header.height, header.width, header.channels), np.uint8)
        for code, (t0_, y0, x0, t, h, w) in zip(patches, boxes):
            rec = decode_patch(code, header.config, t, h, w, max_batch)
            out[t0_ : t0_ + t, y0 : y0 + h, x0 : x0 + w] = rec.transpose(1, 2, 3, 0)
    except BitstreamError:
        raise
    except Exception as e:  # constriction's checks on invalid data, out-of-range weights, memory, ...
        raise BitstreamError(f"corrupt payload: {e}") from None
    return out, header, {"bytes_by_part": parts, "decode_seconds": time.perf_counter() - t0}
