"""File format of the baselines' bitstreams (``python -m baselines compress``).

Layout, little-endian, every field bounds-checked on read::

    magic        4 bytes  b"BLIC"
    version      u8       2 (1: CompressAI's 64-level Gaussian scale table; not read any more)
    name_len     u8       then the model name (ASCII, a key of ``MODELS``)
    head         u8       0 = gaussian, 1 = gmm
    N, M         u16 x2   architecture (M = latent channels; cheng2020: M = N)
    weights_id   4 bytes  first bytes of a SHA-256 of the parameters (decoder refuses other weights)
    height       u32      image size before padding
    width        u32
    channels     u8       1 (gray, coded as replicated RGB) or 3
    bit_depth    u8       1..16, of the decoded PNG
    y_shape      u16 x3   (h, w, c) of the latent y
    z_shape      u16 x3   (h, w, c) of the hyper-latent z; zeros without hyperprior
    alphabet     i32 x2   GMM head: [lo, hi] (lo < hi) covering the coded round(y); zeros otherwise
    z_words      u32      number of 32-bit range-coder words of z
    y_words      u32      ... of y
    esc_bytes    u32      bytes of the escape section
    z words, y words (u32 each), escape bytes
    crc32        u32      of everything before it

Escapes hold the values that fall outside a CDF table (coded as the table's
overflow symbol): signed integers, zigzag + LEB128 varints, in coding order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import zlib

import numpy as np

from coolchic.coding.errors import BitstreamError  # one error class for every stream reader

__all__ = [
    "MAGIC",
    "VERSION",
    "HEADS",
    "BitstreamError",
    "Header",
    "pack",
    "unpack",
    "EscapeWriter",
    "EscapeReader",
    "weights_id",
    "header_size",
]

MAGIC = b"BLIC"
VERSION = 2  # 2: Gaussian conditional coded with the 256-level scale table (baselines.coding)
HEADS = ("gaussian", "gmm")
MAX_SIDE = 1 << 16


@dataclasses.dataclass(frozen=True)
class Header:
    """Everything the decoder needs besides the weights and the payload."""

    model: str
    head: str
    N: int
    M: int
    weights_id: bytes
    height: int
    width: int
    channels: int
    bit_depth: int
    y_shape: tuple[int, int, int]
    z_shape: tuple[int, int, int] = (0, 0, 0)
    alphabet: tuple[int, int] = (0, 0)


_FIXED = struct.Struct("<BHH4sIIBB3H3H2i")  # head .. alphabet
_LENGTHS = struct.Struct("<III")


def pack(header: Header, z_words: np.ndarray, y_words: np.ndarray, escapes: bytes) -> bytes:
    """Serialize a header and payload (``*_words``: uint32 arrays) to bytes."""
    name = header.model.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError(f"model name {header.model!r} too long")
    z_words = np.asarray(z_words, "<u4")
    y_words = np.asarray(y_words, "<u4")
    parts = [
        MAGIC,
        bytes([VERSION, len(name)]),
        name,
        _FIXED.pack(
            HEADS.index(header.head),
            header.N,
            header.M,
            header.weights_id,
            header.height,
            header.width,
            header.channels,
            header.bit_depth,
            *header.y_shape,
            *header.z_shape,
            *header.alphabet,
        ),
        _LENGTHS.pack(z_words.size, y_words.size, len(escapes)),
        z_words.tobytes(),
        y_words.tobytes(),
        bytes(escapes),
    ]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def header_size(model: str) -> int:
    """Bytes of header + lengths + CRC (everything but the payload)."""
    return len(MAGIC) + 2 + len(model) + _FIXED.size + _LENGTHS.size + 4


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(
                f"truncated bitstream: {what} needs {n} bytes at offset {self.pos}, {len(self.data) - self.pos} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def unpack(data: bytes):
    """Parse bytes -> ``(Header, z_words, y_words, escapes)``; raises :class:`BitstreamError`.

    Order of checks: magic and version, field bounds and announced length (truncation,
    trailing bytes), CRC (corruption), then the values of the fields.
    """
    from .models import MODELS

    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a baselines bitstream (bad magic bytes)")
    r = _Reader(data)
    r.take(len(MAGIC), "magic")
    version, name_len = r.take(2, "version")
    if version != VERSION:
        raise BitstreamError(f"unsupported bitstream version {version} (this reader: {VERSION})")
    raw_name = r.take(name_len, "model name")
    head_i, N, M, wid, h, w, c, bd, *rest = _FIXED.unpack(r.take(_FIXED.size, "header"))
    y_shape, z_shape, alphabet = tuple(rest[0:3]), tuple(rest[3:6]), tuple(rest[6:8])
    nz, ny, ne = _LENGTHS.unpack(r.take(_LENGTHS.size, "lengths"))
    total = r.pos + 4 * nz + 4 * ny + ne + 4
    if len(data) < total:
        raise BitstreamError(f"truncated bitstream: {len(data)} bytes, the header announces {total}")
    if len(data) > total:
        raise BitstreamError(f"{len(data) - total} unexpected trailing bytes")
    if zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise BitstreamError("corrupted bitstream (CRC mismatch)")
    try:
        name = raw_name.decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError("model name is not ASCII") from None
    if name not in MODELS:
        raise BitstreamError(f"unknown model {name!r} in bitstream")
    if head_i >= len(HEADS):
        raise BitstreamError(f"unknown entropy head {head_i}")
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise BitstreamError(f"invalid image size {h}x{w}")
    if c not in (1, 3) or not 1 <= bd <= 16 or N == 0 or M == 0:
        raise BitstreamError(f"invalid header (channels={c}, bit_depth={bd}, N={N}, M={M})")
    if alphabet[0] > alphabet[1] or (head_i == 1 and alphabet[0] == alphabet[1]):
        raise BitstreamError(f"invalid alphabet {alphabet}")
    z_words = np.frombuffer(r.take(4 * nz, "z words"), "<u4").astype(np.uint32)
    y_words = np.frombuffer(r.take(4 * ny, "y words"), "<u4").astype(np.uint32)
    escapes = r.take(ne, "escapes")
    header = Header(name, HEADS[head_i], N, M, wid, h, w, c, bd, y_shape, z_shape, alphabet)
    return header, z_words, y_words, escapes


ESCAPE_LIMIT = 2**31  # |escaped value| <= this (a zigzag varint of at most 5 bytes)


class EscapeWriter:
    """Signed integers (``|v| <= 2^31``) as zigzag LEB128 varints."""

    def __init__(self):
        self.buf = bytearray()

    def extend(self, values) -> None:
        values = np.asarray(values, np.int64).ravel()
        if values.size and np.abs(values).max() > ESCAPE_LIMIT:
            raise ValueError("escaped value beyond +-2^31")
        for v in values.tolist():
            u = (v << 1) ^ (v >> 63)
            while u >= 0x80:
                self.buf.append((u & 0x7F) | 0x80)
                u >>= 7
            self.buf.append(u)

    def getvalue(self) -> bytes:
        return bytes(self.buf)


class EscapeReader:
    """Reads what :class:`EscapeWriter` wrote; raises :class:`BitstreamError` past the end."""

    MAX_BYTES = 5

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def read(self, n: int) -> np.ndarray:
        out = np.empty(n, np.int64)
        for k in range(n):
            u, shift = 0, 0
            for i in range(self.MAX_BYTES + 1):
                if i == self.MAX_BYTES:
                    raise BitstreamError("escape value too long")
                if self.pos >= len(self.data):
                    raise BitstreamError("escape section exhausted")
                b = self.data[self.pos]
                self.pos += 1
                u |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            v = (u >> 1) ^ -(u & 1)
            if abs(v) > ESCAPE_LIMIT:
                raise BitstreamError("escape value out of range")
            out[k] = v
        return out

    def finish(self) -> None:
        if self.pos != len(self.data):
            raise BitstreamError(f"{len(self.data) - self.pos} unused escape bytes")


def weights_id(variables) -> bytes:
    """4-byte fingerprint of the parameters (SHA-256 of their float32 bytes in tree order)."""
    import jax

    h = hashlib.sha256()
    leaves = jax.tree_util.tree_leaves_with_path(variables.get("params", variables))
    for path, leaf in leaves:
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.ascontiguousarray(np.asarray(leaf, np.float32)).tobytes())
    return h.digest()[:4]
