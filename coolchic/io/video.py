"""Video files <-> uint8 RGB frames, YUV <-> RGB conversion and video PSNR.

The codec works on RGB frames (as C3 does), so every source is read as (T, H, W, 3) uint8 RGB;
YUV sources also keep their original planes, so they can be written back or scored bit-exactly.

Formats: y4m (8-bit 4:2:0 / 4:4:4 / mono), raw planar 4:2:0 .yuv (size given by the caller), a
folder of numbered PNG frames, and animated GIF. YUV is limited range (Y 16..235, C 16..240)
unless a y4m header says XCOLORRANGE=FULL; the colour matrix is BT.601 unless given or named in
an XCOLORMATRIX header field (y4m has no standard one). 4:2:0 chroma is made by averaging 2x2
blocks (centred siting, as C420jpeg says) and is upsampled by nearest-neighbour replication, the
inverse pair of a box filter.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings

import numpy as np

from coolchic.io.files import atomic_write
from coolchic.io.image import ImageError, read_image, write_image


class VideoError(ImageError):
    """An input video that cannot be read or written."""


# (Kr, Kb) of each supported colour matrix.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
_FRAME_EXTS = (".png", ".ppm", ".pgm", ".pnm")
_VIDEO_EXTS = (".y4m", ".yuv", ".gif")


@dataclasses.dataclass
class Video:
    """RGB frames plus what is needed to write them back as the source was."""

    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: tuple[int, int] = (25, 1)  # numerator, denominator
    matrix: str = "bt601"  # colour matrix used to convert from/to YUV
    full_range: bool = False  # YUV sample range (limited: Y 16..235, C 16..240)
    chroma: str | None = None  # "420" | "444" for YUV sources, None for RGB sources
    yuv: tuple | None = None  # source planes (Y (T,H,W), U, V) uint8 when read from YUV
    name: str = "video"

    def __post_init__(self):
        self.frames = _as_frames(self.frames, self.name)
        self.matrix = _matrix_name(self.matrix)
        self.fps = _fps(self.fps)
        if self.chroma not in (None, "420", "444"):
            raise VideoError(f"{self.name}: chroma must be '420', '444' or None, not {self.chroma!r}")

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def height(self) -> int:
        return self.frames.shape[1]

    @property
    def width(self) -> int:
        return self.frames.shape[2]


# --------------------------------------------------------------------------------------------
# Colour conversion


def _matrix_name(matrix: str) -> str:
    m = str(matrix).lower().replace(".", "").replace("-", "").replace("_", "")
    m = {
        "601": "bt601",
        "709": "bt709",
        "rec601": "bt601",
        "rec709": "bt709",
        "bt470bg": "bt601",
        "smpte170m": "bt601",
    }.get(m, m)
    if m not in MATRICES:
        raise VideoError(f"unsupported colour matrix {matrix!r} (expected bt601 or bt709)")
    return m


def _chroma_name(chroma: str) -> str:
    c = str(chroma)
    if c not in ("420", "444"):
        raise VideoError(f"unsupported chroma format {chroma!r} (expected '420' or '444')")
    return c


def _scales(full_range: bool) -> tuple[float, float, float]:
    """(luma offset, luma scale, chroma scale) from normalized [0, 1] / [-0.5, 0.5] to samples."""
    return (0.0, 255.0, 255.0) if full_range else (16.0, 219.0, 224.0)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round to nearest (halves up) and clip to 0..255."""
    return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)


def _down2(p: np.ndarray) -> np.ndarray:
    """Mean over 2x2 blocks of an (H, W) plane; odd sizes replicate the last row/column."""
    h, w = p.shape
    p = np.pad(p, ((0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])


def rgb_to_yuv(
    rgb: np.ndarray, matrix: str = "bt601", full_range: bool = False, chroma: str = "420"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB (..., H, W, 3) -> uint8 planes Y (..., H, W), U, V.

    4:2:0 chroma is the mean of the full-resolution chroma over 2x2 blocks, taken before rounding;
    odd sizes give ceil(H/2) x ceil(W/2) chroma with the last row/column replicated.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim < 3 or rgb.shape[-1] != 3:
        raise VideoError(f"rgb_to_yuv: expected (..., H, W, 3) RGB, got shape {rgb.shape}")
    kr, kb = MATRICES[_matrix_name(matrix)]
    chroma = _chroma_name(chroma)
    y0, ys, cs = _scales(full_range)
    lead, (h, w) = rgb.shape[:-3], rgb.shape[-3:-1]
    flat = rgb.reshape(-1, h, w, 3)
    ch, cw = ((h + 1) // 2, (w + 1) // 2) if chroma == "420" else (h, w)
    Y = np.empty((len(flat), h, w), np.uint8)
    U = np.empty((len(flat), ch, cw), np.uint8)
    V = np.empty((len(flat), ch, cw), np.uint8)
    for t, frame in enumerate(flat):  # one frame at a time keeps float64 temporaries small
        r, g, b = (frame[..., i].astype(np.float64) / 255.0 for i in range(3))
        luma = kr * r + (1.0 - kr - kb) * g + kb * b
        pb = (b - luma) / (2.0 * (1.0 - kb))
        pr = (r - luma) / (2.0 * (1.0 - kr))
        if chroma == "420":
            pb, pr = _down2(pb), _down2(pr)
        Y[t] = _to_uint8(y0 + ys * luma)
        U[t] = _to_uint8(128.0 + cs * pb)
        V[t] = _to_uint8(128.0 + cs * pr)
    return Y.reshape(*lead, h, w), U.reshape(*lead, ch, cw), V.reshape(*lead, ch, cw)


def yuv_to_rgb(
    Y: np.ndarray, U: np.ndarray, V: np.ndarray, matrix: str = "bt601", full_range: bool = False
) -> np.ndarray:
    """uint8 planes Y (..., H, W), U, V -> uint8 RGB (..., H, W, 3).

    The chroma format follows from the plane shapes (same as Y: 4:4:4; ceil halves: 4:2:0).
    4:2:0 chroma is upsampled by nearest-neighbour replication (each sample covers its 2x2 block).
    """
    Y, U, V = (np.asarray(p) for p in (Y, U, V))
    if Y.ndim < 2 or U.shape != V.shape or U.shape[:-2] != Y.shape[:-2]:
        raise VideoError(f"yuv_to_rgb: inconsistent plane shapes Y {Y.shape}, U {U.shape}, V {V.shape}")
    h, w = Y.shape[-2:]
    if U.shape[-2:] == (h, w):
        up = False
    elif U.shape[-2:] == ((h + 1) // 2, (w + 1) // 2):
        up = True
    else:
        raise VideoError(f"yuv_to_rgb: chroma {U.shape[-2:]} is neither 4:4:4 nor 4:2:0 of luma {(h, w)}")
    kr, kb = MATRICES[_matrix_name(matrix)]
    y0, ys, cs = _scales(full_range)
    lead = Y.shape[:-2]
    Yf, Uf, Vf = Y.reshape(-1, h, w), U.reshape(-1, *U.shape[-2:]), V.reshape(-1, *V.shape[-2:])
    out = np.empty((len(Yf), h, w, 3), np.uint8)
    for t in range(len(Yf)):
        luma = (Yf[t].astype(np.float64) - y0) / ys
        pb = (Uf[t].astype(np.float64) - 128.0) / cs
        pr = (Vf[t].astype(np.float64) - 128.0) / cs
        if up:
            pb = pb.repeat(2, 0).repeat(2, 1)[:h, :w]
            pr = pr.repeat(2, 0).repeat(2, 1)[:h, :w]
        r = luma + 2.0 * (1.0 - kr) * pr
        b = luma + 2.0 * (1.0 - kb) * pb
        g = (luma - kr * r - kb * b) / (1.0 - kr - kb)
        out[t] = _to_uint8(255.0 * np.stack([r, g, b], axis=-1))
    return out.reshape(*lead, h, w, 3)


# --------------------------------------------------------------------------------------------
# Helpers


def _as_frames(x, name: str = "video") -> np.ndarray:
    """(T, H, W, 3) uint8 from uint8 RGB, gray (T, H, W) / (T, H, W, 1), or floats in [0, 1]."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or min(x.shape[:3]) < 1:
        raise VideoError(f"{name}: expected (T, H, W, 3) RGB frames, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.floating):
        x = _to_uint8(255.0 * np.asarray(x, np.float64))
    elif x.dtype != np.uint8:
        if x.min() < 0 or x.max() > 255:
            raise VideoError(f"{name}: integer frames must be 8-bit (0..255), got {x.dtype}")
        x = x.astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x


def _fps(fps) -> tuple[int, int]:
    try:
        n, d = (int(v) for v in fps)
    except (TypeError, ValueError):
        raise VideoError(f"fps must be a (numerator, denominator) pair of integers, not {fps!r}") from None
    if n <= 0 or d <= 0:
        raise VideoError(f"fps must be positive, got {n}:{d}")
    g = math.gcd(n, d)
    return n // g, d // g


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(os.path.normpath(path)))[0] or "video"


def _natural_key(name: str):
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", name)]


def is_video_path(path) -> bool:
    """True for a .y4m, .yuv or .gif path, or an existing directory (of PNG frames)."""
    path = os.fspath(path)
    return path.lower().endswith(_VIDEO_EXTS) or os.path.isdir(path)


def sample_video_path() -> str:
    """Path of the tiny animated GIF bundled with scikit-image (24 frames, 25 rows x 14 columns)."""
    import skimage.data

    p = os.path.join(os.path.dirname(skimage.data.__file__), "no_time_for_that_tiny.gif")
    if not os.path.exists(p):
        raise ImageError("scikit-image does not bundle no_time_for_that_tiny.gif")
    return p


# --------------------------------------------------------------------------------------------
# Reading


_Y4M_CHROMA = {"420": "420", "420jpeg": "420", "420paldv": "420", "420mpeg2": "420", "444": "444", "mono": "mono"}


def _parse_y4m_header(path: str, line: bytes) -> dict:
    if not line.startswith(b"YUV4MPEG2 ") or not line.endswith(b"\n"):
        raise VideoError(f"{path}: not a y4m file (the header must start with 'YUV4MPEG2 ' and end in a newline)")
    h = {"W": None, "H": None, "fps": (25, 1), "chroma": "420", "full_range": False, "matrix": None}
    for tok in line[10:].decode("ascii", errors="replace").split():
        key, val = tok[0], tok[1:]
        try:
            if key in "WH":
                h[key] = int(val)
            elif key == "F":
                n, d = (int(v) for v in val.split(":"))
                if n > 0 and d > 0:  # F0:0 means unknown
                    h["fps"] = (n, d)
        except ValueError:
            raise VideoError(f"{path}: bad y4m header field {tok!r}") from None
        if key == "C":
            if val not in _Y4M_CHROMA:
                if re.fullmatch(r"(420|422|444|411|mono)(p\d+|16)", val):
                    raise VideoError(f"{path}: y4m colourspace C{val} is not 8-bit; only 8-bit video is supported")
                raise VideoError(f"{path}: unsupported y4m colourspace C{val} (expected 420*, 444 or mono)")
            h["chroma"] = _Y4M_CHROMA[val]
        elif key == "I" and val not in ("p", "?"):
            warnings.warn(f"{path}: interlaced y4m (I{val}); frames are read as progressive", stacklevel=3)
        elif key == "X" and "=" in val:
            name, value = val.lstrip("-").split("=", 1)
            name, value = name.upper(), value.upper()
            if name == "COLORRANGE":
                if value not in ("FULL", "LIMITED"):
                    raise VideoError(f"{path}: bad y4m XCOLORRANGE={value} (expected FULL or LIMITED)")
                h["full_range"] = value == "FULL"
            elif name in ("COLORMATRIX", "MATRIX"):
                h["matrix"] = value
    if not (h["W"] and h["H"] and h["W"] > 0 and h["H"] > 0):
        raise VideoError(f"{path}: y4m header lacks a positive width (W) and height (H)")
    return h


def _split_planes(data: list[np.ndarray], w: int, h: int, chroma: str):
    """Per-frame byte arrays -> (Y, U, V) planes of shape (T, ., .)."""
    buf = np.stack(data)
    t, ny = len(buf), w * h
    if chroma == "mono":
        Y = buf.reshape(t, h, w)
        full = np.full_like(Y, 128)
        return Y, full, full.copy()
    ch, cw = ((h + 1) // 2, (w + 1) // 2) if chroma == "420" else (h, w)
    nc = ch * cw
    Y = buf[:, :ny].reshape(t, h, w)
    U = buf[:, ny : ny + nc].reshape(t, ch, cw)
    V = buf[:, ny + nc : ny + 2 * nc].reshape(t, ch, cw)
    return np.ascontiguousarray(Y), np.ascontiguousarray(U), np.ascontiguousarray(V)


def _frame_bytes(w: int, h: int, chroma: str) -> int:
    if chroma == "mono":
        return w * h
    if chroma == "444":
        return 3 * w * h
    return w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)


def _read_y4m(path: str, max_frames: int | None) -> dict:
    with open(path, "rb") as f:
        hdr = _parse_y4m_header(path, f.readline(4096))
        w, h, chroma = hdr["W"], hdr["H"], hdr["chroma"]
        n = _frame_bytes(w, h, chroma)
        data = []
        while max_frames is None or len(data) < max_frames:
            line = f.readline(4096)
            if not line:
                break
            if not (line.startswith(b"FRAME") and line[5:6] in (b"\n", b" ") and line.endswith(b"\n")):
                raise VideoError(f"{path}: frame {len(data) + 1}: expected a 'FRAME' line, got {line[:20]!r}")
            raw = f.read(n)
            if len(raw) != n:
                raise VideoError(f"{path}: frame {len(data) + 1} is truncated ({len(raw)} of {n} bytes)")
            data.append(np.frombuffer(raw, np.uint8))
    if not data:
        raise VideoError(f"{path}: y4m file has no frames")
    hdr["planes"] = _split_planes(data, w, h, chroma)
    hdr["chroma"] = "444" if chroma == "mono" else chroma  # mono = 4:4:4 with neutral chroma
    return hdr


def _read_yuv(path: str, size, max_frames: int | None) -> dict:
    if size is None:
        raise VideoError(
            f"{path}: a raw .yuv file needs its frame size "
            "(--size WxH on the command line, size=(width, height) in Python)"
        )
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise VideoError(f"{path}: size must be (width, height), not {size!r}") from None
    if w <= 0 or h <= 0:
        raise VideoError(f"{path}: size must be positive, got {w}x{h}")
    n = _frame_bytes(w, h, "420")
    total = os.path.getsize(path)
    if total == 0 or total % n:
        raise VideoError(f"{path}: {total} bytes is not a whole number of {w}x{h} 4:2:0 frames ({n} bytes each)")
    t = total // n if max_frames is None else min(total // n, max_frames)
    raw = np.fromfile(path, np.uint8, count=t * n).reshape(t, n)
    return {
        "planes": _split_planes(list(raw), w, h, "420"),
        "chroma": "420",
        "fps": (25, 1),
        "full_range": False,
        "matrix": None,
    }


def _read_png_folder(path: str, max_frames: int | None) -> np.ndarray:
    names = sorted(
        (
            e.name
            for e in os.scandir(path)
            if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(_FRAME_EXTS)
        ),
        key=_natural_key,
    )
    if not names:
        raise VideoError(f"{path}: folder holds no PNG frames")
    names = names[:max_frames] if max_frames is not None else names
    frames, first = [], None
    for name in names:
        p = os.path.join(path, name)
        img = read_image(p)
        if img.bit_depth != 8:
            raise VideoError(f"{p}: {img.bit_depth}-bit frame; only 8-bit frames are supported")
        if first is None:
            first = (name, img.pixels.shape)
        elif img.pixels.shape[:2] != first[1][:2]:
            raise VideoError(
                f"{p}: frame size {img.width}x{img.height} differs from {first[1][1]}x{first[1][0]} of {first[0]}"
            )
        elif img.channels != first[1][2]:
            raise VideoError(f"{p}: mixes gray and RGB frames ({img.channels} channels, {first[0]} has {first[1][2]})")
        frames.append(_to_uint8(img.pixels.astype(np.float64) * 255.0))
    return _as_frames(np.stack(frames), path)


def _read_gif(path: str, max_frames: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    import imageio.v3 as iio

    try:
        frames = []
        with iio.imopen(path, "r", plugin="pillow") as f:
            duration = f.metadata(index=0).get("duration") or 0
            for frame in f.iter(mode="RGB"):  # palette / RGBA frames are composited to RGB
                frames.append(frame)
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except (OSError, ValueError, SyntaxError) as e:
        raise VideoError(f"{path}: not a readable GIF ({e})") from None
    if not frames:
        raise VideoError(f"{path}: GIF has no frames")
    fps = (1000, int(duration)) if duration and duration > 0 else (25, 1)
    return np.stack(frames), fps


def read_video(
    path, size: tuple[int, int] | None = None, matrix: str | None = None, max_frames: int | None = None
) -> Video:
    """Read a .y4m, raw 4:2:0 .yuv (size=(W, H) required), .gif, or a folder of PNG frames.

    matrix overrides the colour matrix (default: a y4m XCOLORMATRIX field, else BT.601). size, if
    given for another format, must match the frames. max_frames reads only the first frames.
    """
    path = os.fspath(path)
    if max_frames is not None and int(max_frames) < 1:
        raise VideoError(f"max_frames must be at least 1, got {max_frames}")
    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file or directory")
    lower = path.lower()
    yuv_info = None
    try:
        if os.path.isdir(path):
            frames, fps = _read_png_folder(path, max_frames), (25, 1)
        elif lower.endswith(".y4m"):
            yuv_info = _read_y4m(path, max_frames)
        elif lower.endswith(".yuv"):
            yuv_info = _read_yuv(path, size, max_frames)
        elif lower.endswith(".gif"):
            frames, fps = _read_gif(path, max_frames)
        else:
            raise VideoError(f"{path}: unsupported video format (expected .y4m, .yuv, .gif or a folder of PNG frames)")
    except OSError as e:
        raise VideoError(f"{path}: cannot read ({e.strerror or e})") from None
    name = _stem(path)
    if yuv_info is None:
        video = Video(frames, fps=fps, name=name, matrix=_matrix_name(matrix or "bt601"))
    else:
        m = matrix or yuv_info["matrix"] or "bt601"
        try:
            m = _matrix_name(m)
        except VideoError:
            raise VideoError(
                f"{path}: unsupported colour matrix {m!r} (bt601 or bt709; pass matrix= to override)"
            ) from None
        planes = yuv_info["planes"]
        rgb = yuv_to_rgb(*planes, matrix=m, full_range=yuv_info["full_range"])
        video = Video(
            rgb,
            fps=yuv_info["fps"],
            matrix=m,
            full_range=yuv_info["full_range"],
            chroma=yuv_info["chroma"],
            yuv=planes,
            name=name,
        )
    if size is not None and tuple(int(v) for v in size) != (video.width, video.height):
        raise VideoError(f"{path}: frames are {video.width}x{video.height}, not the given size {size[0]}x{size[1]}")
    return video


# --------------------------------------------------------------------------------------------
# Writing


def _planes_for(video: Video, matrix: str, chroma: str):
    """The source planes when they already are what is asked for, else converted from RGB."""
    if video.yuv is not None and video.chroma == chroma and video.matrix == matrix:
        return video.yuv
    return rgb_to_yuv(video.frames, matrix, video.full_range, chroma)


def _write_yuv_file(tmp: str, planes, header: bytes | None) -> None:
    Y, U, V = planes
    with open(tmp, "wb") as f:
        if header is not None:
            f.write(header)
        for t in range(len(Y)):
            if header is not None:
                f.write(b"FRAME\n")
            f.write(np.ascontiguousarray(Y[t], np.uint8).tobytes())
            f.write(np.ascontiguousarray(U[t], np.uint8).tobytes())
            f.write(np.ascontiguousarray(V[t], np.uint8).tobytes())


def _write_png_folder(path: str, frames: np.ndarray, force: bool) -> None:
    digits = max(3, len(str(len(frames))))
    names = [f"f{i + 1:0{digits}d}.png" for i in range(len(frames))]
    if os.path.exists(path) and not os.path.isdir(path):
        raise VideoError(f"{path}: exists and is not a folder")
    os.makedirs(path, exist_ok=True)
    ours = re.compile(r"f\d+\.png")
    existing = {e.name for e in os.scandir(path) if e.is_file() and ours.fullmatch(e.name)}
    if existing and not force:
        raise FileExistsError(f"{path} already holds {len(existing)} frames (use --force to overwrite)")
    for name, frame in zip(names, frames):
        write_image(os.path.join(path, name), frame.astype(np.float32) / 255.0, 8, force=True)
    for stale in existing - set(names):  # frames of a longer video written here before
        os.unlink(os.path.join(path, stale))


def _write_gif(tmp: str, frames: np.ndarray, fps: tuple[int, int]) -> None:
    import imageio.v3 as iio

    iio.imwrite(
        tmp, frames, plugin="pillow", extension=".gif", loop=0, duration=max(10, round(1000.0 * fps[1] / fps[0]))
    )


def write_video(
    path,
    video_or_frames,
    *,
    fps: tuple[int, int] | None = None,
    matrix: str | None = None,
    chroma: str | None = None,
    force: bool = True,
) -> None:
    """Write a Video or (T, H, W, 3) frames as .y4m, raw 4:2:0 .yuv, .gif, or (for a path without
    one of those suffixes) a folder of f001.png, f002.png, ...

    fps, matrix and chroma default to the Video's own (else 25:1, BT.601, 4:2:0); the range is the
    Video's (limited for bare frames). A Video's source YUV planes are written unchanged when
    chroma and matrix match, so y4m/yuv -> y4m/yuv is bit-exact. y4m gets C420jpeg or C444 plus
    XCOLORRANGE and XCOLORMATRIX fields. GIF is palette-quantized (lossy), stores 10 ms time steps,
    and Pillow merges identical consecutive frames. force=False refuses to overwrite.
    """
    path = os.fspath(path)
    video = video_or_frames if isinstance(video_or_frames, Video) else Video(video_or_frames)
    fps = _fps(fps if fps is not None else video.fps)
    matrix = _matrix_name(matrix or video.matrix)
    chroma = _chroma_name(chroma or video.chroma or "420")
    lower = path.lower()
    if lower.endswith(".y4m"):
        planes = _planes_for(video, matrix, chroma)
        header = (
            f"YUV4MPEG2 W{video.width} H{video.height} F{fps[0]}:{fps[1]} Ip A1:1 "
            f"C{'420jpeg' if chroma == '420' else '444'} "
            f"XCOLORRANGE={'FULL' if video.full_range else 'LIMITED'} "
            f"XCOLORMATRIX={matrix.upper()}\n"
        ).encode("ascii")
        atomic_write(path, lambda tmp: _write_yuv_file(tmp, planes, header), force=force)
    elif lower.endswith(".yuv"):
        if chroma != "420":
            raise VideoError(f"{path}: raw .yuv is written as 4:2:0 only (got chroma {chroma})")
        planes = _planes_for(video, matrix, chroma)
        atomic_write(path, lambda tmp: _write_yuv_file(tmp, planes, None), force=force)
    elif lower.endswith(".gif"):
        if np.any(np.all(video.frames[1:] == video.frames[:-1], axis=(1, 2, 3))):
            warnings.warn(f"{path}: identical consecutive frames are merged into one by the GIF writer", stacklevel=2)
        atomic_write(path, lambda tmp: _write_gif(tmp, video.frames, fps), force=force)
    elif os.path.isdir(path) or not os.path.splitext(os.path.basename(os.path.normpath(path)))[1]:
        _write_png_folder(path, video.frames, force)
    else:
        raise VideoError(f"{path}: unsupported video format (expected .y4m, .yuv, .gif or a folder path)")
