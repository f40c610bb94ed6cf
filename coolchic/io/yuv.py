"""Raw planar YUV images (.yuv): one frame of Y, U, V planes, coded as YUV (no conversion).

Samples are bytes for 8 bits and little-endian 16-bit words for 9..16 bits, normalised by
2^bits - 1 (Cool-chic 5's reading: full range, no offset). 4:2:0 chroma planes are
ceil(W/2) x ceil(H/2). Cool-chic's file names carry the layout (`name_WxH_FPSp_yuv420_10b.yuv`):
yuv_name_layout reads it, so such files need no flags.
"""

from __future__ import annotations

import os
import re

import numpy as np

from coolchic.io.files import write_bytes
from coolchic.io.image import Image, ImageError, to_integers
from coolchic.model.colour import planes, repeat2

CHROMAS = ("420", "444")
BIT_DEPTHS = range(8, 17)
_NAME = re.compile(r"_(\d+)x(\d+)_")
_CHROMA = re.compile(r"yuv(420|444)", re.IGNORECASE)
_DEPTH = re.compile(r"_(\d+)b(?:it)?(?:[_.]|$)", re.IGNORECASE)


def yuv_name_layout(path: str) -> dict:
    """What a Cool-chic-style file name says: any of size (width, height), chroma, bit_depth."""
    name = os.path.basename(os.fspath(path))
    out = {}
    if m := _NAME.search(name):
        out["size"] = (int(m[1]), int(m[2]))
    if m := _CHROMA.search(name):
        out["chroma"] = m[1]
    if m := _DEPTH.search(name):
        out["bit_depth"] = int(m[1])
    return out


def plane_shapes(width: int, height: int, chroma: str) -> list[tuple[int, int]]:
    c = ((height + 1) // 2, (width + 1) // 2) if chroma == "420" else (height, width)
    return [(height, width), c, c]


def frame_bytes(width: int, height: int, chroma: str, bit_depth: int) -> int:
    """Bytes of one frame in this layout."""
    return sum(h * w for h, w in plane_shapes(width, height, chroma)) * (1 if bit_depth <= 8 else 2)


def _check_layout(path: str, size, chroma: str, bit_depth: int) -> tuple[int, int]:
    if size is None:
        raise ImageError(
            f"{path}: a raw .yuv file needs its frame size (--size WxH, or a name like image_768x512_1p_yuv420_8b.yuv)"
        )
    w, h = (int(v) for v in size)
    if w <= 0 or h <= 0:
        raise ImageError(f"{path}: size must be positive, got {w}x{h}")
    if chroma not in CHROMAS:
        raise ImageError(f"{path}: chroma must be 420 or 444, not {chroma!r}")
    if bit_depth not in BIT_DEPTHS:
        raise ImageError(f"{path}: bit depth must be in 8..16, got {bit_depth}")
    return w, h


def yuv_frame_count(path: str, size, chroma: str = "420", bit_depth: int = 8) -> int:
    """How many whole frames of this layout the file holds (an error if not a whole number)."""
    w, h = _check_layout(path, size, chroma, bit_depth)
    n = frame_bytes(w, h, chroma, bit_depth)
    total = os.path.getsize(path)
    if total == 0 or total % n:
        raise ImageError(
            f"{path}: {total} bytes is not a whole number of {w}x{h} 4:{chroma[1]}:{chroma[2]} "
            f"{bit_depth}-bit frames ({n} bytes each)"
        )
    return total // n


def read_yuv_image(path: str | os.PathLike, size, chroma: str = "420", bit_depth: int = 8) -> Image:
    """The one frame of a raw .yuv file as an Image with colour "yuv420" / "yuv444"."""
    path = os.fspath(path)
    count = yuv_frame_count(path, size, chroma, bit_depth)
    if count != 1:
        raise ImageError(f"{path}: holds {count} frames; an image .yuv holds one")
    w, h = (int(v) for v in size)
    raw = np.fromfile(path, np.uint8 if bit_depth <= 8 else np.dtype("<u2"))
    maxval = (1 << bit_depth) - 1
    if raw.max() > maxval:
        raise ImageError(f"{path}: holds sample values above {maxval}, the {bit_depth}-bit maximum")
    out, pos = [], 0
    for ph, pw in plane_shapes(w, h, chroma):
        p = raw[pos : pos + ph * pw].reshape(ph, pw).astype(np.float32) / maxval
        out.append(p if (ph, pw) == (h, w) else repeat2(p, h, w))
        pos += ph * pw
    return Image(np.stack(out, axis=-1), bit_depth, "yuv" + chroma)


def write_yuv_image(path: str | os.PathLike, img: Image, force: bool = True) -> None:
    """Write a YUV Image as a raw planar .yuv frame at its bit depth."""
    if img.colour not in ("yuv420", "yuv444"):
        raise ImageError(f"{os.fspath(path)}: a {img.colour} image is not written as .yuv")
    samples = to_integers(img.pixels.transpose(2, 0, 1), img.bit_depth)
    dtype = np.uint8 if img.bit_depth <= 8 else np.dtype("<u2")
    write_bytes(path, b"".join(p.astype(dtype).tobytes() for p in planes(samples, img.colour)), force=force)
