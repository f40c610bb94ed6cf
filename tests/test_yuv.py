"""YUV 4:2:0 / 4:4:4 images: raw .yuv I/O, Cool-chic 5's 4:2:0 output and distortion, exact coding."""

import dataclasses
import struct
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import decode_in_fresh_process

from coolchic.api.image import decode_image, encode_image, image_config
from coolchic.cli.main import main
from coolchic.coding import image_codec as codec
from coolchic.coding.errors import BitstreamError
from coolchic.config import VideoConfig
from coolchic.io.image import Image, ImageError
from coolchic.io.yuv import read_yuv_image, write_yuv_image, yuv_name_layout
from coolchic.model import colour, coolchic5, model_for, synthesis, tiling
from coolchic.presets import get_preset

LOP = get_preset("cc5-lop").config


def yuv_planes(h, w, chroma, bits, seed=0):
    rng = np.random.default_rng(seed)
    c = ((h + 1) // 2, (w + 1) // 2) if chroma == "420" else (h, w)
    return [rng.integers(0, 1 << bits, s) for s in [(h, w), c, c]]


def write_planes(path, planes, bits):
    dt = np.uint8 if bits == 8 else np.dtype("<u2")
    path.write_bytes(b"".join(p.astype(dt).tobytes() for p in planes))


@pytest.mark.parametrize("h,w,chroma,bits", [(6, 8, "420", 8), (7, 9, "420", 10), (5, 3, "444", 10), (4, 4, "444", 16)])
def test_raw_yuv_round_trips_its_planes(tmp_path, h, w, chroma, bits):
    planes = yuv_planes(h, w, chroma, bits)
    f, g = tmp_path / "a.yuv", tmp_path / "b.yuv"
    write_planes(f, planes, bits)
    img = read_yuv_image(f, (w, h), chroma, bits)
    assert img.colour == "yuv" + chroma and img.pixels.shape == (h, w, 3) and img.bit_depth == bits
    # the dense layout: each 4:2:0 chroma sample repeated over its 2x2 block
    step = 2 if chroma == "420" else 1
    np.testing.assert_array_equal(np.round(img.pixels[::step, ::step, 1] * ((1 << bits) - 1)), planes[1])
    write_yuv_image(g, img)
    assert g.read_bytes() == f.read_bytes()


def test_bad_yuv_inputs_are_clear_errors(tmp_path):
    f = tmp_path / "a.yuv"
    write_planes(f, yuv_planes(4, 4, "420", 10), 10)
    with pytest.raises(ImageError, match="not a whole number"):
        read_yuv_image(f, (5, 4), "420", 10)
    write_planes(f, [np.full((4, 4), 1023)] * 3, 10)
    with pytest.raises(ImageError, match="above 511"):
        read_yuv_image(f, (4, 4), "444", 9)
    write_planes(f, yuv_planes(4, 4, "420", 8) * 2, 8)
    with pytest.raises(ImageError, match="holds 2 frames"):
        read_yuv_image(f, (4, 4), "420", 8)
    with pytest.raises(ImageError, match="needs its frame size"):
        read_yuv_image(f, None)


def test_cool_chic_file_names_give_the_layout():
    assert yuv_name_layout("/d/kodim15_192x128_01p_yuv420_10b.yuv") == {
        "size": (192, 128),
        "chroma": "420",
        "bit_depth": 10,
    }
    assert yuv_name_layout("D-BQSquare-3frames_224x128_60p_yuv444_8b.yuv")["chroma"] == "444"
    assert yuv_name_layout("plain.yuv") == {}


def test_420_distortion_is_cool_chics_pixel_weighted_mse():
    """Chroma averaged over 2x2 blocks, then (4 MSE_Y + MSE_U + MSE_V) / 6 on even sizes."""
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 6, 8))
    y = colour.subsample(rng.uniform(size=(3, 6, 8)), "yuv420")
    pooled = x[1:].reshape(2, 3, 2, 4, 2).mean(axis=(2, 4))
    mse = [np.mean((x[0] - y[0]) ** 2)] + [np.mean((pooled[i] - y[1 + i, ::2, ::2]) ** 2) for i in range(2)]
    assert colour.mse(x, y, "yuv420") == pytest.approx((4 * mse[0] + mse[1] + mse[2]) / 6)
    assert colour.mse(x, y, "yuv444") == pytest.approx(np.mean((x - y) ** 2))
    # the decoder's 4:2:0 output: its own subsampling, scored the same on both paths
    s = colour.subsample(x, "yuv420")
    np.testing.assert_allclose(s[1:, ::2, ::2], pooled)
    assert colour.mse(s, y, "yuv420") == pytest.approx(colour.mse(x, y, "yuv420"))
    # odd sizes: the last row / column replicated into its block
    z = rng.uniform(size=(1, 3, 5))
    np.testing.assert_allclose(colour.pool2(z)[0, 1, 2], z[0, 2, 4])
    assert colour.n_samples((3, 3, 5), "yuv420") == 15 + 2 * 2 * 3


def test_tiled_training_distortion_equals_the_whole_image_one(monkeypatch):
    """The fit's row-tiled squared error pools chroma inside even-row tiles: it equals the
    whole-image 4:2:0 error (clipped as the decoder clips) on an odd size with many tiles."""
    monkeypatch.setattr(tiling, "TILE_POSITIONS", 3 * 21)  # 3 rows a tile: made even (2)
    c = dataclasses.replace(LOP, colour="yuv420")
    model = model_for(c)
    h, w = 11, 21
    p = model.init_params(jax.random.PRNGKey(0), c, h, w)
    rng = np.random.default_rng(0)
    p["synthesis"] = jax.tree.map(lambda a: a + jnp.asarray(rng.normal(0, 0.3, a.shape), jnp.float32), p["synthesis"])
    p["latents"] = [jnp.asarray(rng.normal(0, 2, g.shape), jnp.float32) for g in p["latents"]]
    target = jnp.asarray(colour.subsample(rng.uniform(size=(3, h, w)), "yuv420"), jnp.float32)
    f = coolchic5.features(p, p["latents"], c, h, w)
    se = synthesis.squared_error(p["synthesis"], f, target, c)
    whole = jax.jit(lambda f: synthesis.synthesize(p["synthesis"], f, c))(f)
    ref = colour.squared_error(np.asarray(whole, np.float64), np.asarray(target, np.float64), "yuv420", clip=True)
    assert float(se) == pytest.approx(ref, rel=1e-5)
    mse, _ = model.rd_terms(p, p["latents"], c, target)
    dec = model.decode(p, p["latents"], c, h, w)
    assert float(mse) == pytest.approx(float(colour.mse(dec, target, "yuv420")), rel=1e-5)


@pytest.fixture(scope="module")
def yuv420_odd(tmp_path_factory, kodak_crop):
    """A 10-bit 4:2:0 image of odd size (a Kodak crop's planes) and its .cool stream (cc5-lop, C3 recipe)."""
    d = tmp_path_factory.mktemp("yuv")
    x = kodak_crop(15, 27, 31).astype(np.float64)
    planes = [x[0], colour.pool2(x[1:])[0], colour.pool2(x[1:])[1]]
    f = d / "k15_31x27_1p_yuv420_10b.yuv"
    write_planes(f, [np.round(p * 1023) for p in planes], 10)
    img = read_yuv_image(f, (31, 27), "420", 10)
    data, report = encode_image(img, LOP, lmbda=1e-2, steps=150, recipe="c3", progress=False)
    return f, img, data, report


def test_420_image_codes_bit_exactly_in_a_fresh_process(yuv420_odd, tmp_path):
    f, img, data, report = yuv420_odd
    assert report.colour == "yuv420" and report.bit_depth == 10
    dec, rep = decode_image(data)
    assert dec.colour == "yuv420" and rep.colour == "yuv420"
    np.testing.assert_array_equal(dec.pixels, report.reconstruction)
    np.testing.assert_array_equal(
        colour.subsample(dec.pixels.transpose(2, 0, 1), "yuv420"), dec.pixels.transpose(2, 0, 1)
    )
    # the reported PSNR is the pixel-weighted one of the planes on the 10-bit grid
    out = tmp_path / "d.yuv"
    write_yuv_image(out, dec)
    a = np.fromfile(f, "<u2").astype(np.float64) / 1023
    b = np.fromfile(out, "<u2").astype(np.float64) / 1023
    assert a.size == b.size == 27 * 31 + 2 * 14 * 16
    assert report.psnr == pytest.approx(-10 * np.log10(np.mean((a - b) ** 2)), abs=1e-6)
    assert report.psnr > 25
    s = tmp_path / "a.cool"
    s.write_bytes(data)
    np.testing.assert_array_equal(decode_in_fresh_process(s), codec.decode(data)[0])


def test_yuv_streams_carry_their_colour_byte(yuv420_odd):
    _, _, data, _ = yuv420_odd
    header = codec.unpack(data)[0]
    assert header.version == 4 and header.config.colour == "yuv420" and header.bit_depth == 10
    body = bytearray(data[:-4])
    assert body[8:10] == bytes([10, 2])  # bit depth, colour (after varint height and width)
    body[9] = 9
    with pytest.raises(BitstreamError, match="colour format"):
        codec.decode(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


def test_yuv_output_range_is_the_planes_extremes_exactly_in_the_header(yuv420_odd):
    _, img, data, _ = yuv420_odd
    q = np.round(img.pixels.reshape(-1, 3) * 1023).astype(int)
    expect = tuple((lo / 1023, hi / 1023) for lo, hi in zip(q.min(0), q.max(0)))
    assert image_config(LOP, img, 1e-2).output_range == expect
    header = codec.unpack(data)[0]
    assert header.config.output_range == expect  # bit for bit: the decoder's transform is the encoder's
    body = bytearray(data[:-4])
    assert struct.unpack("<6H", body[10:22]) == tuple(int(v) for pair in zip(q.min(0), q.max(0)) for v in pair)
    body[10:14] = struct.pack("<2H", 900, 100)  # low above high
    with pytest.raises(BitstreamError, match="output range"):
        codec.decode(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))
    # the transform is low + (high - low) * x per channel, before the 4:2:0 pooling and the clip
    c = dataclasses.replace(LOP, colour="yuv444", output_range=((0.25, 0.75), (0.5, 0.5), (0.0, 1.0)))
    x = jnp.full((3, 2, 2), 0.2)
    np.testing.assert_allclose(colour.output_transform(x, c.output_range)[:, 0, 0], [0.35, 0.5, 0.2], rtol=1e-6)
    with pytest.raises(ValueError, match="output_range"):
        dataclasses.replace(LOP, output_range=((0.0, 1.0),) * 3)  # RGB has no output transform
    with pytest.raises(ValueError, match="output_range"):
        dataclasses.replace(c, output_range=((0.6, 0.5),) * 3)
    full = np.zeros((2, 2, 3), np.float32)
    full[0, 0] = 1.0  # every plane spans 0..255: no transform, the default full range in the header
    assert image_config(LOP, Image(full, 8, "yuv444"), 1e-2).output_range == ()


def test_444_and_configs():
    with pytest.raises(ValueError, match="3 channels"):
        dataclasses.replace(LOP, out_channels=1, colour="yuv420")
    with pytest.raises(ValueError, match="unknown colour"):
        dataclasses.replace(LOP, colour="xyz")
    with pytest.raises(ValueError, match="RGB"):
        VideoConfig(colour="yuv444")
    img = Image(np.random.default_rng(0).uniform(size=(9, 7, 3)).astype(np.float32), 8, "yuv444")
    data, report = encode_image(img, LOP, lmbda=1e-2, steps=20, recipe="c3", progress=False)
    dec, _ = decode_image(data)
    assert dec.colour == "yuv444"
    np.testing.assert_array_equal(dec.pixels, report.reconstruction)


def test_cli_codes_a_yuv_image_and_refuses_mismatched_outputs(yuv420_odd, tmp_path, capsys):
    f, img, data, _ = yuv420_odd
    s = tmp_path / "a.cool"
    s.write_bytes(data)
    out = tmp_path / "d.yuv"
    assert main(["decode", str(s), "-o", str(out)]) == 0
    assert out.stat().st_size == f.stat().st_size
    assert main(["decode", str(s), "-o", str(tmp_path / "d.png")]) == 1
    assert "holds a YUV420 image; decode it to .yuv" in capsys.readouterr().err
    assert main(["info", str(s)]) == 0
    shown = capsys.readouterr().out
    lo, hi = (
        np.round(dec_planes * 1023).astype(int) for dec_planes in (img.pixels.min((0, 1)), img.pixels.max((0, 1)))
    )
    assert "10-bit, YUV420" in shown and f"output range (samples): Y {lo[0]}..{hi[0]}, U {lo[1]}..{hi[1]}" in shown
    # a name without the layout needs --size; flags that do not fit the file are refused
    g = tmp_path / "plain.yuv"
    g.write_bytes(f.read_bytes())
    assert main(["encode", str(g), "-o", str(tmp_path / "x.cool"), "--steps", "1"]) == 1
    assert "needs --size" in capsys.readouterr().err
    assert main(["encode", str(g), "-o", str(tmp_path / "x.cool"), "--size", "30x27", "--steps", "1"]) == 1
    assert "not a whole number" in capsys.readouterr().err  # 8-bit 4:2:0 by default
    assert main(["encode", str(tmp_path / "d.png"), "-o", str(tmp_path / "x.cool"), "--chroma", "444"]) == 1
    assert "apply to raw .yuv inputs only" in capsys.readouterr().err
    assert not (tmp_path / "x.cool").exists()


@pytest.mark.slow
def test_cli_encodes_a_named_yuv_file(yuv420_odd, tmp_path):
    f, *_ = yuv420_odd
    s = tmp_path / "a.cool"
    args = ["encode", str(f), "-o", str(s), "--preset", "cc5-lop", "--recipe", "c3", "--steps", "30", "--quiet"]
    assert main(args) == 0
    assert codec.unpack(s.read_bytes())[0].config.colour == "yuv420"
