"""The .cool video format: header, per-patch codes, payloads, CRC-32.

Layout (little-endian; docs/bitstream.md): magic "CCJV", version u8, frames/height/width u32,
channels u8, bit depth u8, fps (u32, u32), colour matrix u8 (0 BT.601, 1 BT.709), full range u8,
source chroma u8 (0 RGB, 1 4:2:0, 2 4:4:4), architecture (VideoConfig.RECORD: patch size 3 x u32,
grids, context, previous-frame window, widths, convs), patch count u32, per patch: window offsets
(i8, i8) per grid, module steps and codes, weights/latents lengths in 32-bit words (varints);
then the payloads in patch order and a CRC-32 of everything before it. Version 1 (read, no longer
written) stored u32 byte counts and u32/f32 group codes. Any malformed input raises BitstreamError.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

from coolchic.coding.records import Reader, Writer, check, read_config, read_modules, write_config, write_modules
from coolchic.config import VideoConfig

__all__ = [
    "MAGIC",
    "VERSION",
    "MAX_FRAMES",
    "MAX_PIXELS",
    "MATRICES",
    "CHROMAS",
    "VideoHeader",
    "PatchCode",
    "patch_boxes",
    "pack",
    "unpack",
    "is_video_stream",
]

MAGIC = b"CCJV"
VERSION = 2
VERSIONS = (1, 2)  # readable
MAX_FRAMES = 1 << 16
MAX_PIXELS = 1 << 30  # per video (the decoder holds the frames in memory)
MATRICES = ("bt601", "bt709")
CHROMAS = (None, "420", "444")


@dataclasses.dataclass
class VideoHeader:
    frames: int
    height: int
    width: int
    config: VideoConfig  # prev_offsets empty: each patch carries its own
    fps: tuple = (25, 1)
    matrix: str = "bt601"
    full_range: bool = False
    chroma: str | None = None
    channels: int = 3
    bit_depth: int = 8
    version: int = VERSION  # of the stream it was read from


@dataclasses.dataclass
class PatchCode:
    offsets: tuple  # per grid (oy, ox)
    steps: dict
    codes: dict
    weight_words: np.ndarray
    latent_words: np.ndarray


def patch_boxes(frames: int, height: int, width: int, patch: tuple) -> list[tuple]:
    """(t0, y0, x0, t, h, w) of every patch in stream order (time, then rows, then columns)."""
    size = [p or n for p, n in zip(patch, (frames, height, width))]
    starts = [range(0, n, s) for n, s in zip((frames, height, width), size)]
    return [
        (t0, y0, x0, min(size[0], frames - t0), min(size[1], height - y0), min(size[2], width - x0))
        for t0 in starts[0]
        for y0 in starts[1]
        for x0 in starts[2]
    ]


def is_video_stream(data: bytes) -> bool:
    return bytes(data[:4]) == MAGIC


def pack(header: VideoHeader, patches: list[PatchCode]) -> tuple[bytes, dict]:
    """The whole file and its byte counts: header, weights, latents, and per patch."""
    w = Writer()
    w.raw(MAGIC)
    w.put("B", VERSION)
    w.put("IIIBB", header.frames, header.height, header.width, header.channels, header.bit_depth)
    w.put("IIBBB", *header.fps, MATRICES.index(header.matrix), int(header.full_range), CHROMAS.index(header.chroma))
    write_config(w, header.config)
    w.put("I", len(patches))
    for p in patches:
        for oy, ox in p.offsets:
            w.put("bb", oy, ox)
        write_modules(w, p.steps, p.codes)
        w.varint(p.weight_words.size)
        w.varint(p.latent_words.size)
    head = w.getvalue()
    body = b"".join(p.weight_words.astype("<u4").tobytes() + p.latent_words.astype("<u4").tobytes() for p in patches)
    data = head + body
    data += struct.pack("<I", zlib.crc32(data))
    parts = {
        "header": len(head) + 4,
        "weights": sum(p.weight_words.size * 4 for p in patches),
        "latents": sum(p.latent_words.size * 4 for p in patches),
        "patches": [{"weights": p.weight_words.size * 4, "latents": p.latent_words.size * 4} for p in patches],
    }
    return data, parts


def _read_header(r: Reader) -> VideoHeader:
    check(len(r.data) >= 4 and r.raw(4, "magic") == MAGIC, "not a .cool video stream (bad magic bytes)")
    version = r.get("B", "version")
    check(version in VERSIONS, f"unsupported video format version {version} (this reader knows 1 and 2)")
    frames, height, width, channels, bit_depth = r.get("IIIBB", "video size")
    check(
        1 <= frames <= MAX_FRAMES
        and 1 <= height <= 1 << 16
        and 1 <= width <= 1 << 16
        and frames * height * width <= MAX_PIXELS,
        f"video size {frames}x{height}x{width} out of range",
    )
    check(channels == 3 and bit_depth == 8, f"unsupported video format: {channels} channels, {bit_depth} bits")
    fn, fd, matrix, full_range, chroma = r.get("IIBBB", "colour information")
    check(
        fn > 0 and fd > 0 and matrix < len(MATRICES) and full_range < 2 and chroma < len(CHROMAS),
        "colour information out of range",
    )
    config = read_config(r, VideoConfig)
    return VideoHeader(
        frames, height, width, config, (fn, fd), MATRICES[matrix], bool(full_range), CHROMAS[chroma], version=version
    )


def _read_patch_meta(r: Reader, i: int, n_grids: int, version: int) -> tuple:
    """(offsets, steps, codes, weights bytes, latents bytes) of patch i."""
    offsets = tuple(tuple(r.get("bb", f"patch {i} offsets")) for _ in range(n_grids))
    check(all(abs(v) <= 32 for o in offsets for v in o), f"patch {i} offsets out of range")
    steps, codes = read_modules(r, compact=version >= 2)
    if version == 1:
        nw, nl = r.get("II", f"patch {i} payload lengths")
        check(nw % 4 == 0 and nl % 4 == 0, "payload lengths are not whole 32-bit words")
    else:
        nw, nl = 4 * r.varint(f"patch {i} weights length"), 4 * r.varint(f"patch {i} latents length")
    return offsets, steps, codes, nw, nl


def unpack(data: bytes) -> tuple[VideoHeader, list[PatchCode], dict]:
    """Parse and validate a video file: (header, patch codes, bytes per part)."""
    r = Reader(data)
    header = _read_header(r)
    n_patches = r.get("I", "patch count")
    expected = len(patch_boxes(header.frames, header.height, header.width, header.config.patch))
    check(n_patches == expected, f"patch count {n_patches} does not match the patching ({expected})")
    metas = [_read_patch_meta(r, i, header.config.n_grids, header.version) for i in range(n_patches)]
    head_len = r.pos
    total = sum(nw + nl for *_, nw, nl in metas)
    check(
        head_len + total + 4 == len(data),
        f"payload lengths ({total} bytes) do not match the stream size ({len(data)} bytes)",
    )
    patches = []
    for i, (offsets, steps, codes, nw, nl) in enumerate(metas):
        ww = np.frombuffer(r.raw(nw, f"patch {i} weights"), "<u4").astype(np.uint32)
        lw = np.frombuffer(r.raw(nl, f"patch {i} latents"), "<u4").astype(np.uint32)
        patches.append(PatchCode(offsets, steps, codes, ww, lw))
    crc = r.get("I", "checksum")
    check(crc == zlib.crc32(bytes(data[:-4])), "checksum mismatch: the stream is corrupt")
    parts = {
        "header": head_len + 4,
        "weights": sum(m[3] for m in metas),
        "latents": sum(m[4] for m in metas),
        "patches": [{"weights": m[3], "latents": m[4]} for m in metas],
    }
    return header, patches, parts
