"""Distortion metrics (numpy, float64 accumulation): images in [0, 1], videos as C3 and YUV
codecs report them."""

from __future__ import annotations

import numpy as np

from coolchic.io.video import Video, rgb_to_yuv


def mse(x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of two arrays of the same shape."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {y.shape}")
    return float(np.mean((x - y) ** 2))


def psnr(x: np.ndarray, y: np.ndarray, peak: float = 1.0) -> float:
    """PSNR in dB for signals with the given peak value (1.0 for images in [0, 1])."""
    m = mse(x, y)
    return float("inf") if m == 0 else float(10.0 * np.log10(peak**2 / m))


def psnr_from_mse(m: float, peak: float = 1.0) -> float:
    return float("inf") if m <= 0 else float(10.0 * np.log10(peak**2 / m))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    g = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    return g / g.sum()


def _filter(img: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of an (H, W, C) image."""
    k = len(win)
    h = sum(win[i] * img[i : img.shape[0] - k + 1 + i] for i in range(k))
    return sum(win[i] * h[:, i : h.shape[1] - k + 1 + i] for i in range(k))


def _ssim_cs(x, y, win, c1, c2):
    mx, my = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mx * mx
    syy = _filter(y * y, win) - my * my
    sxy = _filter(x * y, win) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = ((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs
    return ssim.mean(axis=(0, 1)), cs.mean(axis=(0, 1))


def ms_ssim(x: np.ndarray, y: np.ndarray, peak: float = 1.0) -> float | None:
    """MS-SSIM (Wang et al. 2003; 5 scales, 11x11 Gaussian window) of (H, W[, C]) images.

    Returns None when the image is too small for 5 scales (each side must be > 160 pixels),
    as the metric is undefined there.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    if min(x.shape[:2]) <= 160:
        return None
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    win = _gaussian_window()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    vals = []
    for level in range(5):
        ssim, cs = _ssim_cs(x, y, win, c1, c2)
        vals.append(np.maximum(ssim if level == 4 else cs, 0.0))
        if level < 4:
            h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
            x = x[:h:2, :w:2] * 0.25 + x[1:h:2, :w:2] * 0.25 + x[:h:2, 1:w:2] * 0.25 + x[1:h:2, 1:w:2] * 0.25
            y = y[:h:2, :w:2] * 0.25 + y[1:h:2, :w:2] * 0.25 + y[:h:2, 1:w:2] * 0.25 + y[1:h:2, 1:w:2] * 0.25
    vals = np.stack(vals)  # (5, C)
    return float(np.mean(np.prod(vals ** weights[:, None], axis=0)))


# ----------------------------------------------------------------------------- videos


def _rgb_array(x) -> np.ndarray:
    return x.frames if isinstance(x, Video) else np.asarray(x)


def psnr_rgb(ref, test, peak: float | None = None) -> float:
    """C3's video PSNR: the PSNR of each frame over its RGB samples, then the mean over frames.

    ref/test: Videos or (T, H, W, 3) arrays. peak defaults to 255 for integer samples and 1.0 for
    floats (taken to be in [0, 1]). A frame coded without error has infinite PSNR, and so has the
    mean.
    """
    ref, test = _rgb_array(ref), _rgb_array(test)
    if ref.shape != test.shape or ref.ndim != 4:
        raise ValueError(f"psnr_rgb: expected two (T, H, W, C) arrays of one shape, got {ref.shape} and {test.shape}")
    if peak is None:
        peak = 1.0 if np.issubdtype(ref.dtype, np.floating) else 255.0
    mses = np.array([np.mean((r.astype(np.float64) - t.astype(np.float64)) ** 2) for r, t in zip(ref, test)])
    with np.errstate(divide="ignore"):
        return float(np.mean(10.0 * np.log10(peak**2 / mses)))


def psnr_yuv(ref_planes, test_planes, peak: float = 255.0) -> dict:
    """PSNR of each YUV plane, each over the whole clip's samples of that plane (one MSE per
    plane, not a mean of per-frame PSNRs), plus yuv611 = (6 y + u + v) / 8.

    ref_planes/test_planes: (Y, U, V) tuples of arrays, or Videos read from YUV.
    """
    ref_planes = ref_planes.yuv if isinstance(ref_planes, Video) else ref_planes
    test_planes = test_planes.yuv if isinstance(test_planes, Video) else test_planes
    if ref_planes is None or test_planes is None or len(ref_planes) != 3 or len(test_planes) != 3:
        raise ValueError("psnr_yuv: expected two (Y, U, V) plane tuples")
    out = {}
    for key, r, t in zip("yuv", ref_planes, test_planes):
        r, t = np.asarray(r, np.float64), np.asarray(t, np.float64)
        if r.shape != t.shape:
            raise ValueError(f"psnr_yuv: plane {key} shapes differ: {r.shape} vs {t.shape}")
        m = float(np.mean((r - t) ** 2))
        out[key] = float("inf") if m == 0 else float(10.0 * np.log10(peak**2 / m))
    out["yuv611"] = (6.0 * out["y"] + out["u"] + out["v"]) / 8.0
    return out


def video_psnr_yuv(video: Video, rec: np.ndarray) -> dict:
    """PSNR (Y, U, V, 6:1:1) of an RGB reconstruction (T, H, W, 3) against the source planes (or,
    for an RGB source, against its conversion), both converted with the source's matrix and chroma."""
    chroma = video.chroma or "420"
    ref = video.yuv if video.yuv is not None else rgb_to_yuv(video.frames, video.matrix, video.full_range, chroma)
    return psnr_yuv(ref, rgb_to_yuv(rec, video.matrix, video.full_range, chroma))
