"""Fit and code a whole video: patches, the previous-frame window offsets, one file.

The offsets are found as C3 finds its previous-frame mask, by a short pre-fit, but chosen by
block matching: after `offset_steps` steps with centred windows, each grid's offset is the shift
(within +-radius latents) that best predicts its rounded latent frames from the previous ones
(least mean absolute difference); the patch is then fitted from scratch with those offsets for
the rest of the step budget. C3 instead learns a mask over the whole previous frame with one ARM
per grid and keeps the window with the largest weights; one shared ARM has no per-grid weights.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from coolchic.coding import video_codec, video_format
from coolchic.config import VideoConfig
from coolchic.evaluation.metrics import psnr_rgb, video_psnr_yuv
from coolchic.fitting.candidates import fit_batch
from coolchic.fitting.recipes import DEFAULT_RECIPE, get_recipe
from coolchic.io.video import Video
from coolchic.model.macs import video_macs_per_pixel
from coolchic.reports import DecodeReport, VideoEncodeReport


def to_array(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, C) uint8 -> (C, T, H, W) float32 in [0, 1], what the model fits."""
    return np.ascontiguousarray(np.asarray(frames).transpose(3, 0, 1, 2), np.float32) / 255.0


def best_offsets(latents: list, radius: int) -> tuple:
    """Per grid, the (oy, ox) in [-radius, radius]^2 minimising mean |L[t] - L[t-1] shifted|."""
    out = []
    for g in latents:
        g = np.round(np.asarray(g, np.float64))
        t, h, w = g.shape
        best, best_cost = (0, 0), np.inf
        if t > 1 and np.any(g):
            for oy in range(-radius, radius + 1):
                for ox in range(-radius, radius + 1):
                    y0, y1, x0, x1 = max(0, -oy), min(h, h - oy), max(0, -ox), min(w, w - ox)
                    if y1 - y0 < 1 or x1 - x0 < 1:
                        continue
                    cur = g[1:, y0:y1, x0:x1]
                    prev = g[:-1, y0 + oy : y1 + oy, x0 + ox : x1 + ox]
                    cost = np.mean(np.abs(cur - prev)) + 1e-9 * (abs(oy) + abs(ox))  # ties: the smaller shift
                    if cost < best_cost:
                        best, best_cost = (oy, ox), cost
        out.append(best)
    return tuple(out)


def fit_patches(
    patches: list,
    config: VideoConfig,
    *,
    lmbda: float,
    steps: int,
    recipe: str = DEFAULT_RECIPE,
    seed: int = 0,
    offset_steps: int = 0,
    radius: int = 4,
    progress: bool = False,
    batch: str | None = None,
) -> list:
    """Fit same-shape (C, T, H, W) patches, each its own model, together (coolchic.fitting.candidates.fit_batch);
    returns [(FitResult, config with that patch's window offsets)]. With offset_steps > 0 the
    pre-fit (centred windows) runs first and chooses each patch's offsets; patches that end up with
    equal offsets are fitted together. With offset_steps = 0 the config's prev_offsets are used."""
    if not get_recipe(recipe, steps, lmbda).videos:
        raise ValueError(f"the {recipe} recipe is an image schedule; fit videos with c3 or coolchic")
    configs = [config] * len(patches)
    if offset_steps and config.prev_window[0] and patches[0].shape[1] > 1 and offset_steps < steps:
        base = dataclasses.replace(config, prev_offsets=())
        pre = fit_batch(
            patches, base, get_recipe(recipe, offset_steps, lmbda), lmbda, seed, progress=progress, batch=batch
        )
        configs = [
            dataclasses.replace(base, prev_offsets=best_offsets(base.scale_latents(r.params["latents"]), radius))
            for r in pre
        ]
        steps -= offset_steps
    results = [None] * len(patches)
    for cfg in dict.fromkeys(configs):  # distinct configs, in order
        idx = [i for i, c in enumerate(configs) if c == cfg]
        fits = fit_batch(
            [patches[i] for i in idx],
            cfg,
            get_recipe(recipe, steps, lmbda),
            lmbda,
            seed,
            progress=progress,
            batch=batch,
        )
        for i, r in zip(idx, fits):
            results[i] = (r, cfg)
    return results


def encode_video(
    video: Video,
    config: VideoConfig,
    *,
    lmbda: float,
    steps: int,
    recipe: str = DEFAULT_RECIPE,
    seed: int = 0,
    offset_steps: int | None = None,
    progress: bool = True,
    batch: str | None = None,
) -> tuple[bytes, VideoEncodeReport]:
    """Fit every patch (same-shape patches together, see fit_patches), code them into one file;
    returns (file bytes, report). offset_steps defaults to 10% of steps."""
    t0 = time.perf_counter()
    frames = np.asarray(video.frames)
    t, h, w, c = frames.shape
    if c != 3:
        raise ValueError(f"videos are coded as RGB, got {c} channels")
    if offset_steps is None:
        offset_steps = steps // 10
    data_all = to_array(frames)
    boxes = video_format.patch_boxes(t, h, w, config.patch)
    patches = [data_all[:, t0_ : t0_ + pt, y0 : y0 + ph, x0 : x0 + pw] for t0_, y0, x0, pt, ph, pw in boxes]
    fitted = [None] * len(boxes)
    for shape in dict.fromkeys(b[3:] for b in boxes):  # same-shape patches are fitted together
        idx = [i for i, b in enumerate(boxes) if b[3:] == shape]
        for i, r in zip(
            idx,
            fit_patches(
                [patches[i] for i in idx],
                config,
                lmbda=lmbda,
                steps=steps,
                recipe=recipe,
                seed=seed,
                offset_steps=offset_steps,
                progress=progress,
                batch=batch,
            ),
        ):
            fitted[i] = r
    codes, bits = [], 0.0
    rec = np.zeros_like(frames)
    for (t0_, y0, x0, pt, ph, pw), patch, (res, pconfig) in zip(boxes, patches, fitted):
        code, prec, pbits = video_codec.encode_patch(res.params, pconfig, patch, lmbda)
        codes.append(code)
        bits += pbits
        rec[t0_ : t0_ + pt, y0 : y0 + ph, x0 : x0 + pw] = prec.transpose(1, 2, 3, 0)
    header = video_format.VideoHeader(
        t, h, w, dataclasses.replace(config, prev_offsets=()), video.fps, video.matrix, video.full_range, video.chroma
    )
    data, parts = video_format.pack(header, codes)
    n_pix = t * h * w
    report = VideoEncodeReport(
        bytes=len(data),
        bytes_by_part=parts,
        bpp=8.0 * len(data) / n_pix,
        bpp_estimated=(bits + 8.0 * (parts["weights"] + parts["header"])) / n_pix,
        bpp_latents_estimated=bits / n_pix,
        psnr=psnr_rgb(frames, rec),
        psnr_yuv=video_psnr_yuv(video, rec),
        macs_per_pixel=video_macs_per_pixel(config, t, h, w)["total"],
        frames=t,
        height=h,
        width=w,
        patches=len(boxes),
        offsets=[list(map(list, cd.offsets)) for cd in codes],
        steps=steps,
        lmbda=lmbda,
        recipe=recipe,
        encode_seconds=time.perf_counter() - t0,
        reconstruction=rec,
    )
    return data, report


def decode_video(data: bytes) -> tuple[Video, DecodeReport]:
    """Decode .cool video bytes: the Video (frames (T, H, W, 3) uint8, fps and colour of the source)
    and a report."""
    frames, header, info = video_codec.decode(data)
    video = Video(frames, fps=header.fps, matrix=header.matrix, full_range=header.full_range)
    report = DecodeReport(
        decode_seconds=info["decode_seconds"],
        height=header.height,
        width=header.width,
        frames=header.frames,
        channels=3,
        bytes_by_part=info["bytes_by_part"],
        chroma=header.chroma,
    )
    return video, report
