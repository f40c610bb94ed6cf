"""Video bitstreams: patches, 3D latent coding with the fixed-point ARM, the .cool video format.

A video is cut into spatio-temporal patches (config.patch; the last ones along each axis may be
smaller). Each patch is its own model, coded exactly like an image (coolchic.coding.image_codec's weight
quantization and coding, the fixed-point ARM, range-coded latents) and reconstructed on the host
in numpy by the one code path encoder and decoder share.

Latent coding. Each grid's frames sit on a zero canvas, one block per frame after a leading zero
block (frame -1), with margins as wide as the context reaches; the previous frame's window is then
a constant flat offset. Latent (t, y, x) depends on frame t's causal neighbours and on frame t-1,
so latents with equal key t*K + x + k*y (k = the context's reach to the right + 1, K larger than
any x + k*y) are independent: the decoder handles each key of all grids in one batch.

File layout (little-endian; docs/bitstream.md): magic "CCJV", version u8, frames/height/width u32,
channels u8, bit depth u8, fps (u32, u32), colour matrix u8 (0 BT.601, 1 BT.709), full range u8,
source chroma u8 (0 RGB, 1 4:2:0, 2 4:4:4), patch size 3 x u32, architecture, patch count u32,
per patch: window offsets (i8, i8) per grid, module steps and codes, weights/latents byte counts;
then the payloads in patch order and a CRC-32 of everything before it.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
import time
import zlib

import numpy as np

from coolchic.coding import host_decoder
from coolchic.coding.image_format import (BitstreamError, Reader, Writer, check, read_context, read_modules, read_widths,
                        write_modules)
from coolchic.coding.image_codec import decode_weights, encode_weights, integer_latents, quantize_params, templates
from coolchic.coding.fixed_arm import arm_to_fixed
from coolchic.coding.latent_coding import decode_wavefronts, distributions, encode_symbols
from coolchic.model.video import VideoConfig, grid_shapes, pads, upsample

MAGIC = b"CCJV"
VERSION = 1
MAX_FRAMES = 1 << 16
MAX_PIXELS = 1 << 30  # per video (the decoder holds the frames in memory)
MATRICES = ("bt601", "bt709")
CHROMAS = (None, "420", "444")


def patch_boxes(frames: int, height: int, width: int, patch: tuple) -> list[tuple]:
    """(t0, y0, x0, t, h, w) of every patch in stream order (time, then rows, then columns)."""
    size = [p or n for p, n in zip(patch, (frames, height, width))]
    starts = [range(0, n, s) for n, s in zip((frames, height, width), size)]
    return [(t0, y0, x0, min(size[0], frames - t0), min(size[1], height - y0), min(size[2], width - x0))
            for t0 in starts[0] for y0 in starts[1] for x0 in starts[2]]


# ----------------------------------------------------------------------------- latents


@functools.lru_cache(maxsize=16)
def schedule(shapes: tuple, config: VideoConfig):
    """(canvas size, per-grid (base, block rows, row stride, top, left), positions in stream
    order, wavefront bounds, per-position context offsets)."""
    k = max([dx for dy, dx in config.context if dy < 0] + [0]) + 1
    big_k = max(w - 1 + k * (h - 1) for _, h, w in shapes) + 1
    layout, pos, key, gid, offsets = [], [], [], [], []
    base = 0
    for g, (t, h, w) in enumerate(shapes):
        top, bottom, left, right = pads(list(config.context) + list(config.prev_context(g)))
        hp, wp = top + h + bottom, left + w + right
        layout.append((base, hp, wp, top, left))
        tt, yy, xx = np.mgrid[0:t, 0:h, 0:w]
        pos.append((base + ((tt + 1) * hp + top + yy) * wp + left + xx).ravel())
        key.append((tt * big_k + xx + k * yy).ravel())
        gid.append(np.full(t * h * w, g))
        cur = [dy * wp + dx for dy, dx in config.context]
        prev = [(dy - hp) * wp + dx for dy, dx in config.prev_context(g)]
        offsets.append(np.array(cur + prev, np.int64))
        base += (t + 1) * hp * wp
    pos, key, gid = (np.concatenate(a) for a in (pos, key, gid))
    order = np.lexsort((pos, gid, key))
    pos, key, gid = pos[order], key[order], gid[order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1, [len(pos)]])
    return base, tuple(layout), pos.astype(np.int64), bounds, np.stack(offsets)[gid]


def _to_canvas(latents: list, config: VideoConfig) -> np.ndarray:
    size, layout, *_ = schedule(tuple(g.shape for g in latents), config)
    flat = np.zeros(size, np.float64)
    for g, (base, hp, wp, top, left) in zip(latents, layout):
        t, h, w = g.shape
        block = flat[base : base + (t + 1) * hp * wp].reshape(t + 1, hp, wp)
        block[1:, top : top + h, left : left + w] = g
    return flat


def encode_latents(latents: list, arm_fixed, config: VideoConfig) -> tuple[np.ndarray, float]:
    _, _, pos, _, offs = schedule(tuple(g.shape for g in latents), config)
    return encode_symbols(*distributions(_to_canvas(latents, config), pos, offs, arm_fixed))


def decode_latents(words, arm_fixed, config: VideoConfig, shapes: list, max_batch: int | None = None) -> list:
    shapes = tuple(tuple(s) for s in shapes)
    size, layout, pos, bounds, offs = schedule(shapes, config)
    flat = decode_wavefronts(words, arm_fixed, size, pos, bounds, offs, max_batch)
    out = []
    for (t, h, w), (base, hp, wp, top, left) in zip(shapes, layout):
        block = flat[base : base + (t + 1) * hp * wp].reshape(t + 1, hp, wp)
        out.append(block[1:, top : top + h, left : left + w].copy())
    return out


# ----------------------------------------------------------------------------- reconstruction


def reconstruct(deq: dict, latents: list, config: VideoConfig, frames: int, height: int, width: int) -> np.ndarray:
    """(C, T, H, W) in [0, 1], float32 numpy: the decoder's output (before 8-bit rounding)."""
    grids = [np.asarray(g, np.float32) for g in latents]
    feats = np.ascontiguousarray(upsample(grids, config, frames, height, width, xnp=np), np.float32)
    syn = deq["synthesis"]
    x = host_decoder.pixel_mlp(syn["layers"], feats)
    for conv in syn["convs"]:
        k = np.asarray(conv["w"], np.float32)
        y = x + np.asarray(conv["b"], np.float32)[:, None, None, None]
        if config.conv3d:
            xp = np.pad(x, ((0, 0), (1, 1), (0, 0), (0, 0)))
            for d in range(3):
                y += host_decoder.conv3x3(xp[:, d : d + frames], k[:, :, d])
        else:
            y += host_decoder.conv3x3(x, k)
        x = y
    return np.clip(x, 0.0, 1.0)


def _to_8bit(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- patches


@dataclasses.dataclass
class PatchCode:
    offsets: tuple  # per grid (oy, ox)
    steps: dict
    codes: dict
    weight_words: np.ndarray
    latent_words: np.ndarray


def encode_patch(params: dict, config: VideoConfig, patch: np.ndarray, lmbda: float):
    """(PatchCode, reconstruction uint8 (C, T, H, W), ideal latent bits) of a fitted patch."""
    _, t, h, w = patch.shape
    steps, ints, deq = quantize_params(params, config, patch, lmbda)
    codes, weight_words = encode_weights(ints)
    latents = integer_latents(config.scale_latents(params["latents"]))
    latent_words, bits = encode_latents(latents, arm_to_fixed(deq["arm"]), config)
    offsets = tuple(config.offset(g) for g in range(config.n_grids))
    rec = _to_8bit(reconstruct(deq, latents, config, t, h, w))
    return PatchCode(offsets, steps, codes, weight_words, latent_words), rec, bits


def decode_patch(code: PatchCode, config: VideoConfig, t: int, h: int, w: int, max_batch=None) -> np.ndarray:
    config = dataclasses.replace(config, prev_offsets=code.offsets)
    deq = decode_weights(code.weight_words, templates(config, t, h, w), code.steps, code.codes)
    latents = decode_latents(code.latent_words, arm_to_fixed(deq["arm"]), config,
                             grid_shapes(t, h, w, config.n_grids), max_batch)
    return _to_8bit(reconstruct(deq, latents, config, t, h, w))


# ----------------------------------------------------------------------------- file format


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


def pack(header: VideoHeader, patches: list[PatchCode]) -> tuple[bytes, dict]:
    """The whole file and its byte counts: header, weights, latents, and per patch."""
    c = header.config
    w = Writer()
    w.raw(MAGIC)
    w.put("B", VERSION)
    w.put("IIIBB", header.frames, header.height, header.width, header.channels, header.bit_depth)
    w.put("IIBBB", *header.fps, MATRICES.index(header.matrix), int(header.full_range), CHROMAS.index(header.chroma))
    w.put("III", *c.patch)
    w.put("BB", c.n_grids, len(c.context))
    for dy, dx in c.context:
        w.put("bb", dy, dx)
    w.put("BB", *c.prev_window)
    for widths in (c.arm_hidden, c.synth_hidden):
        w.put("B", len(widths))
        for v in widths:
            w.put("H", v)
    w.put("BB", c.synth_convs, int(c.conv3d))
    w.put("I", len(patches))
    for p in patches:
        for oy, ox in p.offsets:
            w.put("bb", oy, ox)
        write_modules(w, p.steps, p.codes)
        w.put("II", p.weight_words.size * 4, p.latent_words.size * 4)
    head = w.getvalue()
    body = b"".join(p.weight_words.astype("<u4").tobytes() + p.latent_words.astype("<u4").tobytes() for p in patches)
    data = head + body
    data += struct.pack("<I", zlib.crc32(data))
    parts = {"header": len(head) + 4, "weights": sum(p.weight_words.size * 4 for p in patches),
             "latents": sum(p.latent_words.size * 4 for p in patches),
             "patches": [{"weights": p.weight_words.size * 4, "latents": p.latent_words.size * 4} for p in patches]}
    return data, parts


def is_video_stream(data: bytes) -> bool:
    return bytes(data[:4]) == MAGIC


def unpack(data: bytes) -> tuple[VideoHeader, list[PatchCode], dict]:
    """Parse and validate a video file; any malformed input raises BitstreamError."""
    r = Reader(data)
    check(len(data) >= 4 and r.raw(4, "magic") == MAGIC, "not a .cool video stream (bad magic bytes)")
    version = r.get("B", "version")
    check(version == VERSION, f"unsupported video format version {version} (this reader knows {VERSION})")
    frames, height, width, channels, bit_depth = r.get("IIIBB", "video size")
    check(1 <= frames <= MAX_FRAMES and 1 <= height <= 1 << 16 and 1 <= width <= 1 << 16
          and frames * height * width <= MAX_PIXELS, f"video size {frames}x{height}x{width} out of range")
    check(channels == 3 and bit_depth == 8, f"unsupported video format: {channels} channels, {bit_depth} bits")
    fn, fd, matrix, full_range, chroma = r.get("IIBBB", "colour information")
    check(fn > 0 and fd > 0 and matrix < len(MATRICES) and full_range < 2 and chroma < len(CHROMAS),
          "colour information out of range")
    patch = r.get("III", "patch size")
    n_grids, n_ctx = r.get("BB", "grid/context counts")
    check(1 <= n_grids <= 12 and 1 <= n_ctx <= 64, f"grid count {n_grids} or context size {n_ctx} out of range")
    ctx = read_context(r, n_ctx)
    kh, kw = r.get("BB", "previous-frame window")
    arm_hidden = read_widths(r, "ARM")
    synth_hidden = read_widths(r, "synthesis")
    convs, conv3d = r.get("BB", "synthesis convs")
    check(convs <= 8 and conv3d < 2, "synthesis conv settings out of range")
    try:
        config = VideoConfig(n_grids=n_grids, context=ctx, arm_hidden=arm_hidden, synth_hidden=synth_hidden,
                             synth_convs=convs, conv3d=bool(conv3d), prev_window=(kh, kw), patch=tuple(patch))
    except ValueError as e:
        raise BitstreamError(f"invalid architecture: {e}") from None
    n_patches = r.get("I", "patch count")
    expected = len(patch_boxes(frames, height, width, patch))
    check(n_patches == expected, f"patch count {n_patches} does not match the patching ({expected})")
    metas = []
    for i in range(n_patches):
        offsets = tuple(tuple(r.get("bb", f"patch {i} offsets")) for _ in range(n_grids))
        check(all(abs(v) <= 32 for o in offsets for v in o), f"patch {i} offsets out of range")
        steps, codes = read_modules(r)
        nw, nl = r.get("II", f"patch {i} payload lengths")
        check(nw % 4 == 0 and nl % 4 == 0, "payload lengths are not whole 32-bit words")
        metas.append((offsets, steps, codes, nw, nl))
    head_len = r.pos
    total = sum(nw + nl for *_, nw, nl in metas)
    check(head_len + total + 4 == len(data), f"payload lengths ({total} bytes) do not match the stream size "
                                             f"({len(data)} bytes)")
    patches = []
    for i, (offsets, steps, codes, nw, nl) in enumerate(metas):
        ww = np.frombuffer(r.raw(nw, f"patch {i} weights"), "<u4").astype(np.uint32)
        lw = np.frombuffer(r.raw(nl, f"patch {i} latents"), "<u4").astype(np.uint32)
        patches.append(PatchCode(offsets, steps, codes, ww, lw))
    crc = r.get("I", "checksum")
    check(crc == zlib.crc32(bytes(data[:-4])), "checksum mismatch: the stream is corrupt")
    header = VideoHeader(frames, height, width, config, (fn, fd), MATRICES[matrix], bool(full_range), CHROMAS[chroma])
    parts = {"header": head_len + 4, "weights": sum(m[3] for m in metas), "latents": sum(m[4] for m in metas),
             "patches": [{"weights": m[3], "latents": m[4]} for m in metas]}
    return header, patches, parts


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
