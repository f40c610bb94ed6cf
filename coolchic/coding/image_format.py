"""The .cool image format: typed header, weights payload, latents payload, CRC-32.

Layout (format version 4; all integers little-endian, varints LEB128; docs/bitstream.md has the
table): magic "CCJX", version u8, height and width varints, channels u8, bit depth u8 (8..16),
    colour format u8 (COLOURS: 0 RGB or gray, 1 YUV 4:4:4, 2 YUV 4:2:0),
    for YUV the output range (config.output_range): per channel low and high as u16 samples,
    model family u8 (FAMILIES: 0 this library's Cool-chic / C3 decoder, 1 Cool-chic 5's),
    architecture (the family's config RECORD: grids, ARM context and widths, upsampling, synthesis),
    per module (arm, upsampling, synthesis): weight/bias step exponents and, per group,
    the Laplace support r (varint) and scale (bfloat16),
    weights and latents payload lengths in 32-bit words (varints), the two payloads (u32 words),
    CRC-32 of everything before it (u32).
Versions 3, 2 and 1 (read, no longer written) had no colour byte (RGB or gray) and bit depths 8
or 16 only; versions 2 and 1 had no family byte (family 0); version 1 also stored
the sizes and lengths as u32, the group codes as u32 and f32, and no synthesis activation or
conv padding.
Every read is bounds-checked and every value range-checked (coolchic.coding.records); any
malformed input raises BitstreamError with a message saying what is wrong.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

from coolchic.coding.errors import BitstreamError
from coolchic.coding.records import Reader, Writer, check, read_config, read_modules, write_config, write_modules
from coolchic.config import COLOURS, CoolChic5Config, ModelConfig

__all__ = [
    "MAGIC",
    "VERSION",
    "FAMILIES",
    "family",
    "MAX_SIDE",
    "MAX_PIXELS",
    "Header",
    "write_header",
    "read_header",
    "pack",
    "unpack",
]

MAGIC = b"CCJX"
VERSION = 4
FAMILIES = (ModelConfig, CoolChic5Config)  # family byte -> config class (version 3 on)
# the architecture fields each version stores: version 1 had no synthesis activation / conv padding
RECORDS = {1: ModelConfig.RECORD[:7], 2: ModelConfig.RECORD, 3: None, 4: None}  # None: the family's RECORD
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 28


@dataclasses.dataclass
class Header:
    height: int
    width: int
    channels: int
    bit_depth: int
    config: ModelConfig
    steps: dict  # module -> (kw, kb)
    codes: dict  # module -> [GroupCode (weights), GroupCode (biases)]
    version: int = VERSION  # of the stream it was read from


def family(config: ModelConfig) -> int:
    """The family byte of a config: the index of its class in FAMILIES."""
    if type(config) not in FAMILIES:
        raise TypeError(f"{type(config).__name__} has no .cool image family")
    return FAMILIES.index(type(config))


def write_header(w: Writer, h: Header) -> None:
    w.raw(MAGIC)
    w.put("B", VERSION)
    w.varint(h.height)
    w.varint(h.width)
    w.put("BB", h.channels, h.bit_depth)
    w.put("B", COLOURS.index(h.config.colour))
    if h.config.colour != "rgb":
        w.put(f"{2 * h.channels}H", *range_samples(h.config.output_range, h.channels, h.bit_depth))
    w.put("B", family(h.config))
    write_config(w, h.config)
    write_modules(w, h.steps, h.codes)


def range_samples(output_range: tuple, channels: int, bit_depth: int) -> list[int]:
    """config.output_range as samples of the bit depth (low, high per channel); () is 0..max."""
    maxval = (1 << bit_depth) - 1
    pairs = output_range or ((0.0, 1.0),) * channels
    out = [round(v * maxval) for pair in pairs for v in pair]
    if any(abs(q / maxval - v) > 1e-12 for q, v in zip(out, (v for pair in pairs for v in pair))):
        raise ValueError(f"output_range {output_range} is not made of {bit_depth}-bit samples")
    return out


def read_range(samples: tuple, bit_depth: int) -> tuple:
    """Inverse of range_samples; the full range 0..max reads as () (no transform)."""
    maxval = (1 << bit_depth) - 1
    check(
        all(0 <= lo <= hi <= maxval for lo, hi in zip(samples[::2], samples[1::2])), f"invalid output range {samples}"
    )
    pairs = tuple((lo / maxval, hi / maxval) for lo, hi in zip(samples[::2], samples[1::2]))
    return () if all(p == (0.0, 1.0) for p in pairs) else pairs


def read_header(r: Reader) -> Header:
    magic = r.raw(4, "magic") if len(r.data) >= 4 else None
    check(magic == MAGIC, "not a .cool stream (bad magic bytes)" if len(r.data) else "empty stream")
    version = r.get("B", "version")
    check(
        version in RECORDS, f"unsupported format version {version} (this reader knows {', '.join(map(str, RECORDS))})"
    )
    if version == 1:
        height, width, channels, bit_depth = r.get("IIBB", "image size")
    else:
        height, width = r.varint("height"), r.varint("width")
        channels, bit_depth = r.get("BB", "channels and bit depth")
    check(
        1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and height * width <= MAX_PIXELS,
        f"image size {height}x{width} out of range",
    )
    check(channels in (1, 3), f"channels must be 1 or 3, got {channels}")
    depths = range(8, 17) if version >= 4 else (8, 16)
    check(bit_depth in depths, f"bit depth {bit_depth} is not valid in format version {version}")
    colour = "rgb"
    if version >= 4:
        code = r.get("B", "colour format")
        check(code < len(COLOURS), f"unknown colour format {code} (this reader knows 0..{len(COLOURS) - 1})")
        colour = COLOURS[code]
        check(colour == "rgb" or channels == 3, f"colour format {colour} needs 3 channels, got {channels}")
    output_range = ()
    if colour != "rgb":
        output_range = read_range(r.get(f"{2 * channels}H", "output range"), bit_depth)
    cls = ModelConfig
    if version >= 3:
        fam = r.get("B", "model family")
        check(fam < len(FAMILIES), f"unknown model family {fam} (this reader knows 0..{len(FAMILIES) - 1})")
        cls = FAMILIES[fam]
    config = read_config(r, cls, RECORDS[version], out_channels=channels, colour=colour, output_range=output_range)
    steps, codes = read_modules(r, compact=version >= 2)
    return Header(height, width, channels, bit_depth, config, steps, codes, version)


def pack(header: Header, weight_words: np.ndarray, latent_words: np.ndarray) -> tuple[bytes, dict]:
    """The whole file, and its byte count per part."""
    w = Writer()
    write_header(w, header)
    w.varint(weight_words.size)
    w.varint(latent_words.size)
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
    if header.version == 1:
        nw, nl = r.get("II", "payload lengths")
        check(nw % 4 == 0 and nl % 4 == 0, "payload lengths are not whole 32-bit words")
    else:
        nw, nl = 4 * r.varint("weights payload length"), 4 * r.varint("latents payload length")
    head_len = r.pos
    check(
        head_len + nw + nl + 4 == len(data),
        f"payload lengths ({nw} + {nl} bytes) do not match the stream size ({len(data)} bytes)",
    )
    ww = np.frombuffer(r.raw(nw, "weights payload"), "<u4").astype(np.uint32)
    lw = np.frombuffer(r.raw(nl, "latents payload"), "<u4").astype(np.uint32)
    crc = r.get("I", "checksum")
    check(crc == zlib.crc32(bytes(data[:-4])), "checksum mismatch: the stream is corrupt")
    return header, ww, lw, {"header": head_len + 4, "weights": nw, "latents": nl}
