"""Header records shared by the image and video formats: byte I/O, module codes, architecture.

Writer and Reader put and get little-endian struct values; every read is bounds-checked, and
check() turns a failed range check into a BitstreamError saying what is wrong. The architecture
record is table-driven: a config class lists in RECORD (coolchic/config.py), in byte order, its
stored fields and how each is stored (plain descriptions, interpreted by CODECS here); write_config
and read_config walk that list, so both formats store, read and check a field the same way and a
new stored field is one RECORD entry, not an edit of each format's writer and reader.
"""

from __future__ import annotations

import struct

import numpy as np

from coolchic.coding.errors import BitstreamError
from coolchic.coding.weights import MODULES, GroupCode, bf16_bits, bf16_value
from coolchic.config import U8, Choice, Flag, Levels, Offsets, UInts, Widths, causal_context


class Writer:
    """Accumulates little-endian struct values and raw bytes."""

    def __init__(self):
        self.parts: list[bytes] = []

    def put(self, fmt: str, *values) -> None:
        self.parts.append(struct.pack("<" + fmt, *values))

    def raw(self, data: bytes) -> None:
        self.parts.append(data)

    def varint(self, value: int) -> None:
        """LEB128: 7 bits per byte, low first, the high bit set on all but the last byte."""
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                break
        self.parts.append(bytes(out))

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


class Reader:
    """Reads struct values and raw bytes in order; running past the end is a BitstreamError."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def get(self, fmt: str, what: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise BitstreamError(
                f"truncated stream: {what} at byte {self.pos} needs {size} bytes, {len(self.data) - self.pos} left"
            )
        vals = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def varint(self, what: str, max_bytes: int = 5) -> int:
        """Inverse of Writer.varint; more than max_bytes bytes is a BitstreamError."""
        value = 0
        for i in range(max_bytes):
            byte = self.get("B", what)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        raise BitstreamError(f"{what}: varint longer than {max_bytes} bytes")

    def raw(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitstreamError(f"truncated stream: {what} needs {n} bytes, {len(self.data) - self.pos} left")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise BitstreamError(msg)


# ----------------------------------------------------------------------------- module codes


def write_modules(w: Writer, steps: dict, codes: dict, compact: bool = True) -> None:
    """Per module: weight/bias step exponents, then (support, scale) of each coded group: the
    support as a varint and, unless it is 0, the scale as bfloat16 (compact, format 2), or u32
    and f32."""
    for m in MODULES:
        kw, kb = steps[m]
        w.put("bb", kw, kb)
        for code in codes[m]:
            if compact:
                w.varint(code.r)
                if code.r:  # r = 0: all zeros, no scale needed
                    w.put("H", bf16_bits(code.scale))
            else:
                w.put("If", code.r, code.scale)


def read_modules(r: Reader, compact: bool = True) -> tuple[dict, dict]:
    """Inverse of write_modules: (module -> (kw, kb), module -> [weights code, biases code])."""
    steps, codes = {}, {}
    for m in MODULES:
        kw, kb = r.get("bb", f"{m} quantization steps")
        check(0 <= kw <= 16 and 0 <= kb <= 32, f"{m} quantization step exponents ({kw}, {kb}) out of range")
        steps[m] = (kw, kb)
        codes[m] = []
        for g in ("weights", "biases"):
            what = f"{m} {g} code"
            if compact:
                rr = r.varint(what)
                scale = bf16_value(r.get("H", what)) if rr else 1.0
            else:
                rr, scale = r.get("If", what)
            check(rr <= 1 << 20 and np.isfinite(scale) and 0 < scale < 1e7, f"{m} {g} code parameters out of range")
            codes[m].append(GroupCode(rr, float(scale)))
    return steps, codes


# ----------------------------------------------------------------------------- architecture


def _write_u8(w: Writer, spec: U8, value) -> None:
    w.put("B", value)


def _read_u8(r: Reader, spec: U8):
    v = r.get("B", spec.what)
    check(v in spec.allowed, f"{spec.what} {v} out of range")
    return v


def _write_choice(w: Writer, spec: Choice, value) -> None:
    w.put("B", spec.names.index(value))


def _read_choice(r: Reader, spec: Choice):
    v = r.get("B", spec.what)
    check(v < len(spec.names), f"unknown {spec.what} {v}")
    return spec.names[v]


def _write_flag(w: Writer, spec: Flag, value) -> None:
    w.put("B", int(value))


def _read_flag(r: Reader, spec: Flag):
    v = r.get("B", spec.what)
    check(v < 2, f"{spec.what} {v} out of range")
    return bool(v)


def _mask_sizes(spec: Offsets) -> range:
    return range(3, 2 * spec.reach + 2, 2)


def _write_offsets(w: Writer, spec: Offsets, value) -> None:
    size = next((s for s in _mask_sizes(spec) if tuple(value) == causal_context(s)), None)
    if size is not None:  # the short form: 0, then the mask size
        w.put("BB", 0, size)
        return
    w.put("B", len(value))
    for dy, dx in value:
        w.put("bb", dy, dx)


def _read_offsets(r: Reader, spec: Offsets):
    n = r.get("B", f"{spec.what} size")
    if n == 0:
        size = r.get("B", f"{spec.what} mask size")
        check(size in _mask_sizes(spec), f"{spec.what} mask size {size} out of range")
        offs = causal_context(size)
        check(len(offs) <= spec.max_count, f"{spec.what} mask size {size} out of range")
        return offs
    check(n <= spec.max_count, f"{spec.what} size {n} out of range")
    offs = tuple(tuple(r.get("bb", f"{spec.what} offset")) for _ in range(n))
    check(
        all(-spec.reach <= dy <= 0 and abs(dx) <= spec.reach and (dy < 0 or dx < 0) for dy, dx in offs)
        and len(set(offs)) == n,
        f"{spec.what} offsets are not causal or out of range",
    )
    return offs


def _write_widths(w: Writer, spec: Widths, value) -> None:
    w.put("B", len(value))
    for v in value:
        w.put("H", v)


def _read_widths(r: Reader, spec: Widths):
    n = r.get("B", f"{spec.what} depth")
    check(n <= spec.max_count, f"{spec.what} has {n} hidden layers (max {spec.max_count})")
    ws = tuple(r.get("H", f"{spec.what} width") for _ in range(n))
    check(all(1 <= v <= spec.max_width for v in ws), f"{spec.what} widths {ws} out of range")
    return ws


def _uints_fmt(spec: UInts) -> str:
    return {1: "B", 4: "I"}[spec.size] * spec.count


def _write_uints(w: Writer, spec: UInts, value) -> None:
    w.put(_uints_fmt(spec), *value)


def _read_uints(r: Reader, spec: UInts):
    v = r.get(_uints_fmt(spec), spec.what)
    return tuple(v) if spec.count > 1 else (v,)


def _write_levels(w: Writer, spec: Levels, value) -> None:
    w.put("B" * (len(value) + 1), len(value), *value)


def _read_levels(r: Reader, spec: Levels):
    n = r.get("B", f"{spec.what} count")
    check(n <= spec.max_count, f"{spec.what}: {n} of them (max {spec.max_count})")
    vs = tuple(r.get("B", spec.what) for _ in range(n))
    check(all(1 <= v <= spec.max_level for v in vs) and list(vs) == sorted(set(vs)), f"{spec.what} {vs} out of range")
    return vs


CODECS = {  # description type (coolchic.config) -> (write, read and check)
    U8: (_write_u8, _read_u8),
    Choice: (_write_choice, _read_choice),
    Flag: (_write_flag, _read_flag),
    Offsets: (_write_offsets, _read_offsets),
    Widths: (_write_widths, _read_widths),
    UInts: (_write_uints, _read_uints),
    Levels: (_write_levels, _read_levels),
}


def write_config(w: Writer, config, record: tuple | None = None) -> None:
    """The architecture record of config: the fields its class lists in RECORD (or `record`, an
    older format version's prefix of it), in that order."""
    for name, spec in record or type(config).RECORD:
        CODECS[type(spec)][0](w, spec, getattr(config, name))


def read_config(r: Reader, cls, record: tuple | None = None, **fixed):
    """Inverse of write_config: a cls built from its RECORD (or `record`) fields and `fixed` (fields
    the header stores elsewhere, e.g. channels); absent fields keep their defaults. An inconsistent
    architecture is a BitstreamError too."""
    values = {name: CODECS[type(spec)][1](r, spec) for name, spec in record or cls.RECORD}
    try:
        return cls(**values, **fixed)
    except ValueError as e:
        raise BitstreamError(f"invalid architecture: {e}") from None
