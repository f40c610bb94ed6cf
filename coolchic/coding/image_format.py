"""The .cool file format: typed header, weights payload, latents payload, CRC-32.

Layout (all integers little-endian; see docs/bitstream.md for the table):
    magic "CCJX", version u8, height u32, width u32, channels u8, bit depth u8,
    architecture (grids, ARM context and widths, upsampling, synthesis widths and convs),
    per module (arm, upsampling, synthesis): weight/bias step exponents and, per group,
    the Laplace support r (u32) and scale (f32),
    weights payload length u32, latents payload length u32, the two payloads (u32 words),
    CRC-32 of everything before it (u32).
Every read is bounds-checked and every value range-checked; any malformed input raises
BitstreamError with a message saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

from coolchic.config import ModelConfig
from coolchic.coding.weights import MODULES, GroupCode

MAGIC = b"CCJX"
VERSION = 1
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 28
MAX_WIDTH = 256
MAX_CONTEXT_REACH = 7


class BitstreamError(ValueError):
    """A stream that is not a valid .cool file (truncated, corrupt, unsupported)."""


@dataclasses.dataclass
class Header:
    height: int
    width: int
    channels: int
    bit_depth: int
    config: ModelConfig
    steps: dict  # module -> (kw, kb)
    codes: dict  # module -> [GroupCode (weights), GroupCode (biases)]


class Writer:
    def __init__(self):
        self.parts: list[bytes] = []

    def put(self, fmt: str, *values) -> None:
        self.parts.append(struct.pack("<" + fmt, *values))

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


class Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def get(self, fmt: str, what: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise BitstreamError(f"truncated stream: {what} at byte {self.pos} needs {size} bytes, "
                                 f"{len(self.data) - self.pos} left")
        vals = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(f"truncated stream: {what} needs {n} bytes, {len(self.data) - self.pos} left")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise BitstreamError(msg)


def write_header(w: Writer, h: Header) -> None:
    c = h.config
    w.raw(MAGIC)
    w.put("B", VERSION)
    w.put("IIBB", h.height, h.width, h.channels, h.bit_depth)
    w.put("BB", c.n_grids, len(c.context))
    for dy, dx in c.context:
        w.put("bb", dy, dx)
    w.put("B", len(c.arm_hidden))
    for v in c.arm_hidden:
        w.put("H", v)
    w.put("BB", {"bilinear": 0, "learned": 1}[c.upsampling], c.upsampling_taps)
    w.put("B", len(c.synth_hidden))
    for v in c.synth_hidden:
        w.put("H", v)
    w.put("B", c.synth_convs)
    write_modules(w, h.steps, h.codes)


def write_modules(w: Writer, steps: dict, codes: dict) -> None:
    """Per module: weight/bias step exponents, then (support, scale) of each coded group."""
    for m in MODULES:
        kw, kb = steps[m]
        w.put("bb", kw, kb)
        for code in codes[m]:
            w.put("If", code.r, code.scale)


def read_modules(r: Reader) -> tuple[dict, dict]:
    steps, codes = {}, {}
    for m in MODULES:
        kw, kb = r.get("bb", f"{m} quantization steps")
        check(0 <= kw <= 16 and 0 <= kb <= 32, f"{m} quantization step exponents ({kw}, {kb}) out of range")
        steps[m] = (kw, kb)
        codes[m] = []
        for g in ("weights", "biases"):
            rr, scale = r.get("If", f"{m} {g} code")
            check(rr <= 1 << 20 and np.isfinite(scale) and 0 < scale < 1e7, f"{m} {g} code parameters out of range")
            codes[m].append(GroupCode(rr, float(scale)))
    return steps, codes


def read_header(r: Reader) -> Header:
    magic = r.raw(4, "magic") if len(r.data) >= 4 else None
    check(magic == MAGIC, "not a .cool stream (bad magic bytes)" if len(r.data) else "empty stream")
    version = r.get("B", "version")
    check(version == VERSION, f"unsupported format version {version} (this reader knows {VERSION})")
    height, width, channels, bit_depth = r.get("IIBB", "image size")
    check(1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and height * width <= MAX_PIXELS,
           f"image size {height}x{width} out of range")
    check(channels in (1, 3), f"channels must be 1 or 3, got {channels}")
    check(bit_depth in (8, 16), f"bit depth must be 8 or 16, got {bit_depth}")
    n_grids, n_ctx = r.get("BB", "grid/context counts")
    check(1 <= n_grids <= 12, f"grid count {n_grids} out of range")
    check(1 <= n_ctx <= 64, f"context size {n_ctx} out of range")
    ctx = read_context(r, n_ctx)
    arm_hidden = read_widths(r, "ARM")
    up, taps = r.get("BB", "upsampling")
    check(up in (0, 1), f"unknown upsampling kind {up}")
    check(taps in (2, 4, 6, 8, 10, 12), f"upsampling taps {taps} out of range")
    synth_hidden = read_widths(r, "synthesis")
    synth_convs = r.get("B", "synthesis convs")
    check(synth_convs <= 8, f"synthesis conv count {synth_convs} out of range")
    config = ModelConfig(n_grids=n_grids, context=ctx, arm_hidden=arm_hidden, upsampling=("bilinear", "learned")[up],
                         upsampling_taps=taps, synth_hidden=synth_hidden, synth_convs=synth_convs, out_channels=channels)
    steps, codes = read_modules(r)
    return Header(height, width, channels, bit_depth, config, steps, codes)


def read_context(r: Reader, n_ctx: int) -> tuple:
    ctx = tuple(tuple(r.get("bb", "context offset")) for _ in range(n_ctx))
    check(all(-MAX_CONTEXT_REACH <= dy <= 0 and abs(dx) <= MAX_CONTEXT_REACH and (dy < 0 or dx < 0) for dy, dx in ctx)
           and len(set(ctx)) == n_ctx, "ARM context offsets are not causal or out of range")
    return ctx


def read_widths(r: Reader, what: str) -> tuple:
    n = r.get("B", f"{what} depth")
    check(n <= 8, f"{what} has {n} hidden layers (max 8)")
    ws = tuple(r.get("H", f"{what} width") for _ in range(n))
    check(all(1 <= v <= MAX_WIDTH for v in ws), f"{what} widths {ws} out of range")
    return ws


def pack(header: Header, weight_words: np.ndarray, latent_words: np.ndarray) -> tuple[bytes, dict]:
    """The whole file, and its byte count per part."""
    w = Writer()
    write_header(w, header)
    w.put("II", weight_words.size * 4, latent_words.size * 4)
    head = w.getvalue()
    body = weight_words.astype("<u4").tobytes() + latent_words.astype("<u4").tobytes()
    data = head + body
    data += struct.pack("<I", zlib.crc32(data))
    return data, {"header": len(head) + 4, "weights": weight_words.size * 4, "latents": latent_words.size * 4}


def unpack(data: bytes) -> tuple[Header, np.ndarray, np.ndarray, dict]:
    """Parse and validate a file: (header, weight words, latent words, bytes per part)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError("stream must be bytes")
    r = Reader(data)
    header = read_header(r)
    nw, nl = r.get("II", "payload lengths")
    check(nw % 4 == 0 and nl % 4 == 0, "payload lengths are not whole 32-bit words")
    head_len = r.pos
    check(head_len + nw + nl + 4 == len(data),
           f"payload lengths ({nw} + {nl} bytes) do not match the stream size ({len(data)} bytes)")
    ww = np.frombuffer(r.raw(nw, "weights payload"), "<u4").astype(np.uint32)
    lw = np.frombuffer(r.raw(nl, "latents payload"), "<u4").astype(np.uint32)
    crc = r.get("I", "checksum")
    check(crc == zlib.crc32(bytes(data[:-4])), "checksum mismatch: the stream is corrupt")
    return header, ww, lw, {"header": head_len + 4, "weights": nw, "latents": nl}
