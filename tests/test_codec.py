"""Bitstreams: exact round trips, fixed-point determinism, format errors, fuzzing."""

import json
import os
import struct
import subprocess
import sys
import time
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from baselines import bitstream as baselines_bitstream
from coolchic.api.image import encode_image
from coolchic.coding import image_codec as codec
from coolchic.coding.errors import BitstreamError
from coolchic.coding.records import Reader, Writer, read_config, write_config
from coolchic.config import ModelConfig, VideoConfig, causal_context
from coolchic.fitting.candidates import fit
from coolchic.fitting.recipes import coolchic_recipe
from coolchic.io.image import read_image, to_integers, write_image
from coolchic.model.image import init_params
from coolchic.presets import PRESETS, get_preset

SMALL = ModelConfig(n_grids=4, context=causal_context(5), arm_hidden=(8, 8), synth_hidden=(8,))


def random_params(config, h, w, seed=0):
    """A valid, non-trivial model without fitting: random latents and synthesis weights."""
    rng = np.random.default_rng(seed)
    p = init_params(jax.random.PRNGKey(seed), config, h, w)
    p["latents"] = [jnp.asarray(rng.laplace(0, 2, g.shape).astype(np.float32)) for g in p["latents"]]
    p["arm"]["layers"][-1]["w"] = jnp.asarray(rng.normal(0, 0.2, p["arm"]["layers"][-1]["w"].shape).astype(np.float32))
    c = config.out_channels
    p["synthesis"]["convs"] = [
        {"w": jnp.asarray(rng.normal(0, 0.1, (c, c, 3, 3)).astype(np.float32)), "b": jnp.zeros(c)}
        for _ in range(config.synth_convs)
    ]
    return p


@pytest.fixture(scope="module")
def small_stream(kodak_crop):
    x = kodak_crop(3, 24, 24)
    r = fit(x, SMALL, coolchic_recipe(30), 1e-2, progress=False)
    data, rep = codec.encode(r.params, SMALL, x, 8, 1e-2)
    return data, rep


@pytest.mark.parametrize("image,pos", [(1, (200, 300)), (5, (100, 400)), (23, (300, 100))])
def test_fitted_kodak_crops_round_trip_exactly(kodak_crop, image, pos):
    x = kodak_crop(image, 32, 32, *pos)
    r = fit(x, SMALL, coolchic_recipe(40), 1e-3, progress=False)
    data, rep = codec.encode(r.params, SMALL, x, 8, 1e-3)
    rec, header, info = codec.decode(data)
    np.testing.assert_array_equal(rec, rep["reconstruction"])
    assert (header.height, header.width, header.channels) == (32, 32, 3)
    assert rep["bytes"] == len(data) == sum(info["bytes_by_part"].values())


@pytest.mark.parametrize("h,w,c", [(17, 13, 3), (1, 1, 3), (5, 40, 1), (13, 17, 3)])
def test_odd_sizes_and_gray_round_trip(h, w, c):
    config = SMALL.with_channels(c)
    x = np.random.default_rng(h * w).random((c, h, w)).astype(np.float32)
    params = random_params(config, h, w)
    data, rep = codec.encode(params, config, x, 8, 1e-2)
    rec, header, _ = codec.decode(data)
    assert rec.shape == (c, h, w)
    np.testing.assert_array_equal(rec, rep["reconstruction"])


def test_c3_architecture_round_trip_and_batch_independence():
    config = ModelConfig()  # c3-kodak: 7 grids, 24-neighbour ARM, learned nothing fancy
    params = random_params(config, 40, 24, seed=2)
    x = np.random.default_rng(0).random((3, 40, 24)).astype(np.float32)
    data, rep = codec.encode(params, config, x, 8, 1e-3)
    a, _, _ = codec.decode(data)
    b, _, _ = codec.decode(data, max_batch=3)  # other batching of the wavefront: same symbols
    np.testing.assert_array_equal(a, rep["reconstruction"])
    np.testing.assert_array_equal(a, b)


def test_learned_upsampling_round_trip():
    config = ModelConfig(upsampling="learned", n_grids=5, context=causal_context(3), arm_hidden=(6,), synth_hidden=(6,))
    params = random_params(config, 19, 23, seed=4)
    x = np.random.default_rng(1).random((3, 19, 23)).astype(np.float32)
    data, rep = codec.encode(params, config, x, 8, 1e-3)
    np.testing.assert_array_equal(codec.decode(data)[0], rep["reconstruction"])


def test_16bit_gray_through_the_api_and_cli(tmp_path):
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:12, 0:10]
    pix = (0.5 + 0.3 * np.sin(yy / 3.0) * np.cos(xx / 4.0) + 0.01 * rng.random((12, 10)))[..., None]
    src = tmp_path / "g16.png"
    write_image(src, pix.astype(np.float32), 16)
    img = read_image(src)
    assert img.bit_depth == 16 and img.channels == 1
    data, rep = encode_image(img, SMALL, lmbda=1e-3, steps=10, progress=False)
    stream = tmp_path / "g16.cool"
    stream.write_bytes(data)
    out = tmp_path / "out.png"
    p = subprocess.run(
        [sys.executable, "-m", "coolchic", "decode", str(stream), "-o", str(out)], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    dec = read_image(out)
    assert dec.bit_depth == 16 and dec.channels == 1
    np.testing.assert_array_equal(to_integers(dec.pixels, 16), to_integers(rep.reconstruction, 16))


def test_fresh_process_decodes_identical_pixels(small_stream, tmp_path):
    data, rep = small_stream
    f = tmp_path / "s.cool"
    f.write_bytes(data)
    out = tmp_path / "rec.npy"
    code = (
        "import numpy as np; from coolchic.coding.image_codec import decode; "
        f"np.save({str(out)!r}, decode(open({str(f)!r}, 'rb').read())[0])"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(out), rep["reconstruction"])


def test_file_size_matches_estimate(small_stream):
    data, rep = small_stream
    assert rep["bpp"] <= 1.01 * rep["bpp_estimated"] + 64 / (24 * 24)  # + at most two padding words


@pytest.mark.parametrize(
    "mutate,msg",
    [
        (lambda d: b"", "empty"),
        (lambda d: b"XXXX" + d[4:], "magic"),
        (lambda d: d[:4] + bytes([99]) + d[5:], "version"),
        (lambda d: d[:-1], "match the stream size"),
        (lambda d: d + b"\0", "match the stream size"),
        (lambda d: d[:-4] + struct.pack("<I", zlib.crc32(d[:-4]) ^ 1), "checksum"),
    ],
)
def test_malformed_streams_raise_typed_errors(small_stream, mutate, msg):
    data, _ = small_stream
    with pytest.raises(BitstreamError, match=msg):
        codec.decode(mutate(data))


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_out_of_range_header_values_are_rejected(small_stream):
    data, _ = small_stream
    body = bytearray(data[:-4])
    assert body[4] == 4 and body[5] == 24 and body[8] == 8  # version 4: varint height, width; channels; depth
    body[5] = 0  # height 0
    with pytest.raises(BitstreamError, match="image size"):
        codec.decode(_with_crc(bytes(body)))
    body = bytearray(data[:-4])
    body[8] = 3  # bit depth 3
    with pytest.raises(BitstreamError, match="bit depth"):
        codec.decode(_with_crc(bytes(body)))


def test_version_3_and_2_streams_still_decode(small_stream):
    """Format 3 is format 4 without the colour byte (after channels and bit depth), format 2 also
    without the family byte after it."""
    data, _ = small_stream
    body = bytearray(data[:-4])
    assert body[9] == 0 and body[10] == 0  # colour 0: RGB; family 0: this library's Cool-chic / C3 decoder
    v3 = _with_crc(bytes(body[:4]) + bytes([3]) + bytes(body[5:9]) + bytes(body[10:]))
    v2 = _with_crc(bytes(body[:4]) + bytes([2]) + bytes(body[5:9]) + bytes(body[11:]))
    for old in (v3, v2):
        np.testing.assert_array_equal(codec.decode(old)[0], codec.decode(data)[0])
    body[10] = 7
    with pytest.raises(BitstreamError, match="model family"):
        codec.decode(_with_crc(bytes(body)))


def test_fuzz_truncations_and_flips(small_stream):
    """Every truncation and thousands of random corruptions decode or raise BitstreamError, fast."""
    data, _ = small_stream
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            codec.decode(data[:n])
    outcomes = {"error": 0, "decoded": 0}
    for i in range(3000):
        buf = bytearray(data)
        for _ in range(rng.integers(1, 4)):
            buf[rng.integers(len(buf))] ^= 1 << int(rng.integers(8))
        # Half the time keep the checksum valid, so the parser and decoders see the damage.
        mutated = _with_crc(bytes(buf[:-4])) if i % 2 else bytes(buf)
        try:
            codec.decode(mutated)
            outcomes["decoded"] += 1
        except BitstreamError:
            outcomes["error"] += 1
    assert outcomes["error"] >= 1500  # all CRC-checked flips fail at least
    assert time.perf_counter() - t0 < 240


def test_cli_round_trip_refusals_and_rgba(tmp_path, kodak_crop):
    rgb = kodak_crop(7, 16, 16).transpose(1, 2, 0)
    rgba = np.concatenate([rgb, np.ones((16, 16, 1), np.float32)], -1)
    src = tmp_path / "a.png"
    write_image(src, rgba)
    out = tmp_path / "a.cool"
    rep = tmp_path / "r.json"
    run = lambda *a: subprocess.run([sys.executable, "-m", "coolchic", *a], capture_output=True, text=True)
    p = run("encode", str(src), "-o", str(out), "--preset", "mac-500", "--steps", "5", "--quiet", "--json", str(rep))
    assert p.returncode == 0, p.stderr
    assert "alpha" in p.stderr  # opaque alpha dropped with a warning
    r = json.loads(rep.read_text())
    assert r["bytes"] == os.path.getsize(out) and abs(r["bpp"] - 8 * r["bytes"] / 256) < 1e-9
    for k in ("bpp_estimated", "psnr", "macs_per_pixel", "bytes_by_part", "steps", "encode_seconds"):
        assert k in r
    # Refuses to overwrite an existing output, and the input itself.
    p = run("encode", str(src), "-o", str(out), "--steps", "1", "--quiet")
    assert p.returncode != 0 and "exists" in p.stderr and "Traceback" not in p.stderr
    p = run("decode", str(out), "-o", str(out), "--force")
    assert p.returncode != 0 and "input" in p.stderr
    # Non-opaque alpha: clear error.
    rgba[0, 0, 3] = 0.5
    write_image(src, rgba)
    p = run("encode", str(src), "-o", str(tmp_path / "b.cool"), "--steps", "1", "--quiet")
    assert p.returncode != 0 and "alpha" in p.stderr and "Traceback" not in p.stderr
    # Corrupt stream: one line, non-zero.
    bad = tmp_path / "bad.cool"
    bad.write_bytes(out.read_bytes()[:20])
    p = run("decode", str(bad), "-o", str(tmp_path / "x.png"))
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()
    p = run("info", str(out))
    assert p.returncode == 0 and "MACs/pixel" in p.stdout


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_architecture_record_round_trips_every_preset(name):
    """The RECORD-driven architecture record (both formats) gives back every stored field."""
    config = get_preset(name).config
    w = Writer()
    write_config(w, config)
    fixed = {} if config.is_video else {"out_channels": config.out_channels}
    back = read_config(Reader(w.getvalue()), type(config), **fixed)
    assert all(getattr(back, f) == getattr(config, f) for f, _ in type(config).RECORD)


def test_inconsistent_architecture_and_one_error_class():
    config, w = VideoConfig(prev_window=(4, 4)), Writer()
    write_config(w, config)
    data = bytearray(w.getvalue())
    i = 12 + 1 + 2  # after patch, grid count, context (short form: 0, mask size)
    assert data[i : i + 2] == bytes([4, 4])
    data[i] = 0  # window (0, 4): each stored value in range, together invalid
    with pytest.raises(BitstreamError, match="invalid architecture: prev_window"):
        read_config(Reader(bytes(data)), VideoConfig)
    assert baselines_bitstream.BitstreamError is BitstreamError
