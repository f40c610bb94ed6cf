"""Image files <-> float arrays in [0, 1], keeping channel count and bit depth.

Rules: PNG (8/16-bit, via pypng) and binary PPM/PGM (P5/P6, maxval up to 65535). Gray stays gray
(1 channel), RGB stays RGB. RGBA / gray+alpha with a fully opaque alpha is coded without alpha (a
warning says so); any other alpha is an error, since the codec has no alpha plane.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import png

from coolchic.io.files import atomic_write


class ImageError(ValueError):
    """An input image that cannot be read or coded."""


@dataclasses.dataclass(frozen=True)
class Image:
    """Pixels as float32 (H, W, C) in [0, 1] plus what is needed to write them back.

    colour (coolchic.model.colour): "rgb" (RGB or gray), or "yuv444" / "yuv420" for planar YUV
    (coolchic.io.yuv): then the channels are Y, U, V, 4:2:0 chroma repeated over its 2x2 blocks.
    """

    pixels: np.ndarray
    bit_depth: int
    colour: str = "rgb"

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]


def from_integers(data: np.ndarray, bit_depth: int, name: str = "image") -> Image:
    """Build an Image from integer samples (H, W[, C]), dropping an opaque alpha channel."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3 or data.shape[0] < 1 or data.shape[1] < 1:
        raise ImageError(f"{name}: expected a 2-D image, got shape {data.shape}")
    maxval = (1 << bit_depth) - 1
    c = data.shape[2]
    if c in (2, 4):
        alpha = data[..., -1]
        if np.any(alpha != maxval):
            raise ImageError(f"{name}: has a non-opaque alpha channel, which cannot be coded")
        warnings.warn(f"{name}: alpha channel is fully opaque and is dropped", stacklevel=2)
        data = data[..., :-1]
    elif c not in (1, 3):
        raise ImageError(f"{name}: {c} channels; expected gray, gray+alpha, RGB or RGBA")
    return Image((data.astype(np.float32) / maxval), bit_depth)


def to_integers(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Quantize [0, 1] floats to the integer samples of the given bit depth."""
    maxval = (1 << bit_depth) - 1
    q = np.clip(np.round(np.asarray(pixels, np.float64) * maxval), 0, maxval)
    return q.astype(np.uint16 if bit_depth > 8 else np.uint8)


def _read_png(path: str) -> Image:
    try:
        with open(path, "rb") as f:  # pypng leaves a file it opened itself to the garbage collector
            w, h, rows, info = png.Reader(file=f).asDirect()
            planes = info["planes"]
            data = np.vstack([np.asarray(r, dtype=np.uint32) for r in rows]).reshape(h, w, planes)
    except png.Error as e:
        raise ImageError(f"{path}: not a valid PNG ({e})") from None
    depth = info["bitdepth"]
    if depth < 8:  # pypng rescales nothing for sub-byte depths; widen them to 8 bits.
        data = data * 255 // ((1 << depth) - 1)
        depth = 8
    return from_integers(data, depth, path)


def _read_pnm(path: str) -> Image:
    with open(path, "rb") as f:
        raw = f.read()
    tokens, pos = [], 2
    while len(tokens) < 3:
        while pos < len(raw) and raw[pos : pos + 1].isspace():
            pos += 1
        if raw[pos : pos + 1] == b"#":
            while pos < len(raw) and raw[pos : pos + 1] not in (b"\n", b"\r"):
                pos += 1
            continue
        start = pos
        while pos < len(raw) and not raw[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise ImageError(f"{path}: truncated PNM header")
        tokens.append(raw[start:pos])
    try:
        w, h, maxval = (int(t) for t in tokens)
    except ValueError:
        raise ImageError(f"{path}: bad PNM header") from None
    if not (w > 0 and h > 0 and 0 < maxval < 65536):
        raise ImageError(f"{path}: bad PNM header values {w}x{h} maxval {maxval}")
    c = 3 if raw[:2] == b"P6" else 1
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    n = w * h * c
    body = raw[pos + 1 : pos + 1 + n * dtype.itemsize]
    if len(body) != n * dtype.itemsize:
        raise ImageError(f"{path}: truncated PNM data")
    data = np.frombuffer(body, dtype).reshape(h, w, c).astype(np.uint32)
    depth = 8 if maxval <= 255 else 16
    if maxval not in (255, 65535):
        data = (data * ((1 << depth) - 1) + maxval // 2) // maxval
    return from_integers(data, depth, path)


def read_image(path: str | os.PathLike) -> Image:
    """Read a PNG or binary PPM/PGM file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError as e:
        raise ImageError(f"{path}: cannot read ({e.strerror})") from None
    if magic.startswith(b"\x89PNG"):
        return _read_png(path)
    if magic[:2] in (b"P5", b"P6"):
        return _read_pnm(path)
    raise ImageError(f"{path}: unsupported image format (expected PNG or binary PPM/PGM)")


def _write_image_now(path: str, samples: np.ndarray, bit_depth: int, fmt: str) -> None:
    h, w, c = samples.shape
    if fmt == "pnm":
        magic = b"P6" if c == 3 else b"P5"
        dt = ">u2" if bit_depth > 8 else np.uint8
        with open(path, "wb") as f:
            f.write(magic + f"\n{w} {h}\n{(1 << bit_depth) - 1}\n".encode())
            f.write(samples.astype(dt).tobytes())
        return
    writer = png.Writer(w, h, greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=bit_depth, compression=6)
    with open(path, "wb") as f:
        writer.write_array(f, samples.reshape(-1).astype(np.uint16 if bit_depth > 8 else np.uint8))


def write_image(path: str | os.PathLike, pixels: np.ndarray, bit_depth: int = 8, force: bool = True) -> None:
    """Write (H, W, C) floats in [0, 1] as PNG, or PPM/PGM when the suffix is .ppm/.pgm/.pnm."""
    path = os.fspath(path)
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    samples = to_integers(pixels, bit_depth)
    fmt = "pnm" if path.lower().endswith((".ppm", ".pgm", ".pnm")) else "png"
    atomic_write(path, lambda tmp: _write_image_now(tmp, samples, bit_depth, fmt), force=force)


def sample_image_path(name: str = "astronaut") -> str:
    """Path of an image bundled with scikit-image (no download)."""
    import skimage

    p = os.path.join(os.path.dirname(skimage.__file__), "data", f"{name}.png")
    if not os.path.exists(p):
        raise ImageError(f"scikit-image does not bundle {name}.png")
    return p
