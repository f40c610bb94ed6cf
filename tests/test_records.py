"""Header records of format 2: varints, bfloat16 group scales, the context short form, sizes."""

import dataclasses

import numpy as np
import pytest

from coolchic.coding.errors import BitstreamError
from coolchic.coding.image_format import Header, read_header, write_header
from coolchic.coding.records import Reader, Writer, read_config, read_modules, write_config, write_modules
from coolchic.coding.weights import MODULES, GroupCode, bf16_bits, bf16_value, group_code
from coolchic.config import ModelConfig, causal_context


@pytest.mark.parametrize("value,size", [(0, 1), (127, 1), (128, 2), (768, 2), (1 << 20, 3), ((1 << 32) - 1, 5)])
def test_varint_round_trip_and_size(value, size):
    w = Writer()
    w.varint(value)
    data = w.getvalue()
    assert len(data) == size
    r = Reader(data)
    assert r.varint("v") == value and r.pos == size


def test_varint_errors_are_typed():
    with pytest.raises(BitstreamError, match="varint longer"):
        Reader(b"\xff" * 6).varint("length")
    with pytest.raises(BitstreamError, match="truncated"):
        Reader(b"\x80").varint("length")


def test_bf16_rounds_to_nearest_and_group_scales_are_representable():
    for x in (0.1, 1.0, 3.14159, 2.5e5, 7.0 + 1 / 64):
        y = bf16_value(bf16_bits(x))
        assert abs(y - x) <= x * 2.0**-8  # 8 significant bits
        assert bf16_value(bf16_bits(y)) == y  # representable values are fixed points
    assert bf16_value(bf16_bits(1.0 + 2.0**-8)) == 1.0  # a tie goes to the even mantissa
    rng = np.random.default_rng(0)
    code = group_code(rng.laplace(0, 37.3, 500).round().astype(np.int64))
    assert bf16_value(bf16_bits(code.scale)) == code.scale  # what the header stores is what coded


def test_group_codes_round_trip_in_both_layouts():
    steps = {m: (5 + i, 9 + i) for i, m in enumerate(MODULES)}
    codes = {m: [GroupCode(1000 * i + 3, 0.75), GroupCode(0, 1.0)] for i, m in enumerate(MODULES)}
    assert group_code(np.zeros(7, np.int64)) == GroupCode(0, 1.0)
    for compact, size in ((True, 3 * (2 + 2 + 1) + 1 + 2 + 2), (False, 3 * (2 + 2 * 8))):
        w = Writer()
        write_modules(w, steps, codes, compact=compact)
        # compact: steps, then r varints of 1, 2 and 2 bytes for 3, 1003, 2003 with their scales,
        # and a lone 0 for each all-zero group
        assert len(w.getvalue()) == size
        assert read_modules(Reader(w.getvalue()), compact=compact) == (steps, codes)


@pytest.mark.parametrize("size", [3, 5, 7, 9])
def test_causal_masks_take_two_bytes(size):
    config = dataclasses.replace(ModelConfig(), context=causal_context(size))
    w = Writer()
    write_config(w, config)
    data = w.getvalue()
    assert data[1:3] == bytes([0, size])
    assert read_config(Reader(data), ModelConfig, out_channels=3) == config


def test_other_contexts_are_stored_explicitly_and_bad_short_forms_rejected():
    ctx = causal_context(5)[:-1] + ((-3, 0),)
    config = dataclasses.replace(ModelConfig(), context=ctx)
    w = Writer()
    write_config(w, config)
    data = bytearray(w.getvalue())
    assert data[1] == len(ctx)
    assert read_config(Reader(bytes(data)), ModelConfig, out_channels=3) == config
    for bad in (4, 1, 17):
        short = bytes(data[:1]) + bytes([0, bad]) + bytes(40)  # grid count, then a bad short form
        with pytest.raises(BitstreamError, match="mask size"):
            read_config(Reader(short), ModelConfig, out_channels=3)


def test_image_header_of_the_c3_architecture_is_compact():
    """Magic, version, sizes, architecture and the six group codes of a 256x256 C3-like stream."""
    steps = {m: (8, 10) for m in MODULES}
    codes = {m: [GroupCode(40, 3.5), GroupCode(300, 20.0)] for m in MODULES}
    h = Header(256, 256, 3, 8, ModelConfig(synth_activation="gelu", conv_padding="edge"), steps, codes)
    w = Writer()
    write_header(w, h)
    data = w.getvalue()
    back = read_header(Reader(data))
    assert (back.height, back.width, back.config, back.steps, back.codes) == (256, 256, h.config, steps, codes)
    # magic, version, sizes, colour, family 4 + 1 + 2 + 2 + 2 + 1 + 1; grids 1, context 2, ARM 5, upsampling 2,
    # synthesis 5, convs, activations and padding 4; per module steps 2 and codes (1 + 2) + (2 + 2)
    assert len(data) == 13 + 19 + 3 * 9
