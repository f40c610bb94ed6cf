"""Video model, coding and CLI: exact round trips on an odd-sized clip whose frame count does not
divide the patch length, rate estimate vs fixed-point coder, MACs in C3's convention, errors."""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coolchic.api.video import best_offsets, encode_video
from coolchic.cli.main import main
from coolchic.coding import video_codec
from coolchic.coding.errors import BitstreamError
from coolchic.coding.fixed_arm import arm_to_fixed
from coolchic.coding.image_codec import integer_latents
from coolchic.io.video import Video, read_video, write_video
from coolchic.model.macs import video_macs_per_pixel
from coolchic.model.video import grid_bits, init_params
from coolchic.presets import get_preset

CLIP = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "video", "BasketballPass_416x240")

# video-fast widths, non-zero window offsets, 5 frames in patches of 3 (a full and a 2-frame patch)
CONFIG = dataclasses.replace(
    get_preset("video-fast").config, n_grids=4, patch=(3, 0, 0), prev_offsets=((1, -1), (0, 1), (-1, 0), (0, 0))
)


def _clip(t=5, h=13, w=19) -> Video:
    """A small natural clip (odd size) from BasketballPass, or a synthetic moving pattern."""
    if os.path.isdir(CLIP):
        v = read_video(CLIP, max_frames=t)
        return Video(v.frames[:, 100 : 100 + h, 150 : 150 + w].copy())
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [np.stack([(128 + 100 * np.sin((xx + 2 * i) / 3 + c)) for c in range(3)], -1) for i in range(t)]
    return Video(np.clip(frames, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def coded():
    video = _clip()
    data, report = encode_video(video, CONFIG, lmbda=2e-3, steps=40, offset_steps=0, progress=False)
    return video, data, report


def test_round_trip_exact_odd_size_partial_patch(coded):
    video, data, report = coded
    assert report.patches == 2  # 5 frames, patches of 3: the last one has 2 frames
    frames, header, _ = video_codec.decode(data)
    assert frames.shape == video.frames.shape
    assert np.array_equal(frames, report.reconstruction)
    smaller, *_ = video_codec.decode(data, max_batch=2)  # other batching of the wavefronts: same symbols
    assert np.array_equal(smaller, frames)
    assert report.bpp == pytest.approx(8 * len(data) / video.frames[..., 0].size)
    assert report.psnr > 18
    assert [list(map(list, CONFIG.prev_offsets))] * 2 == report.offsets


def test_rate_estimate_matches_fixed_point_coder():
    """The training rate (float ARM on the 3D context) and the coder's ideal bits (integer ARM on the
    flat canvas) see the same context: with fixed-point-exact weights they agree closely."""
    config = CONFIG
    params = init_params(jax.random.PRNGKey(3), config, 4, 9, 11)
    arm = jax.tree.map(lambda a: jnp.round(a * 256) / 256, params["arm"])  # representable weights
    # small output weights and unit-scale latents: no probability falls below the float rate's
    # 2^-16 floor (the coder's tails cost up to 24 bits), so both must agree closely
    arm["layers"][-1]["w"] = jnp.round(jax.random.normal(jax.random.PRNGKey(4), arm["layers"][-1]["w"].shape) * 8) / 256
    keys = jax.random.split(jax.random.PRNGKey(5), config.n_grids)
    lat = integer_latents([jax.random.laplace(k, g.shape) for k, g in zip(keys, params["latents"])])
    float_bits = float(
        jax.jit(lambda a, gs: sum(grid_bits(a, g, config, i) for i, g in enumerate(gs)))(
            arm, [jnp.asarray(g, jnp.float32) for g in lat]
        )
    )  # jitted: eager dispatch is slower
    _, coded_bits = video_codec.encode_latents(lat, arm_to_fixed(arm), config)
    assert coded_bits == pytest.approx(float_bits, rel=0.01)


def test_best_offsets_finds_global_motion():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 40)) * 3
    oy, ox = 2, -1  # frame t at (y, x) equals frame t-1 at (y + oy, x + ox)
    grid = np.stack([base[10 + t * oy : 10 + t * oy + 16, 10 + t * ox : 10 + t * ox + 18] for t in range(4)])
    assert best_offsets([grid, np.zeros((1, 8, 9))], radius=3) == ((oy, ox), (0, 0))


def test_macs_c3_uvg_is_4418():
    config = get_preset("c3-uvg").config
    assert config.n_context == 121  # 3x9x9 causal: a 9x9 previous-frame window + 40 causal neighbours
    m = video_macs_per_pixel(config)
    assert (m["arm"], m["upsampling"], m["synthesis"], m["total"]) == (2540, 80, 1798, 4418)
    assert video_macs_per_pixel(dataclasses.replace(config, conv3d=False))["synthesis"] == 1798 - 2 * 18 * 9


def test_corrupt_streams_raise(coded):
    _, data, _ = coded
    for bad in (data[:-1], data[:20], b"CCJV", data[:-4] + b"\0\0\0\0", b"XXXX" + data[4:]):
        with pytest.raises(BitstreamError):
            video_codec.decode(bad)
    rng = np.random.default_rng(1)
    for _ in range(30):  # random flips in the header, CRC recomputed: a clear error or a valid decode
        b = bytearray(data[:-4])
        b[int(rng.integers(4, 120))] ^= 1 << int(rng.integers(8))
        import struct
        import zlib

        b += struct.pack("<I", zlib.crc32(bytes(b)))
        try:
            video_codec.decode(bytes(b))
        except BitstreamError:
            pass


def test_cli_video_encode_info_decode(tmp_path, capsys):
    video = _clip(t=3, h=9, w=11)
    src = tmp_path / "clip.y4m"
    write_video(str(src), video, chroma="444")
    out = tmp_path / "clip.cool"
    rc = main(
        [
            "encode",
            str(src),
            "-o",
            str(out),
            "--preset",
            "video-fast",
            "--steps",
            "20",
            "--offset-steps",
            "0",
            "--quiet",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert rc == 0 and out.exists()
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 patch(es)" in text and "#0: frames 0..2, rows 0..8, cols 0..10" in text
    assert main(["decode", str(out), "-o", str(tmp_path / "frames")]) == 0
    assert main(["decode", str(out), "-o", str(tmp_path / "dec.y4m")]) == 0
    png = read_video(str(tmp_path / "frames"))
    expected, *_ = video_codec.decode(out.read_bytes())
    assert np.array_equal(png.frames, expected)
    y4m = read_video(str(tmp_path / "dec.y4m"))
    assert y4m.frames.shape == video.frames.shape and y4m.chroma == "444"
    # errors: one line, non-zero exit, nothing overwritten
    assert main(["decode", str(out), "-o", str(tmp_path / "dec.y4m")]) != 0
    assert main(["decode", str(out), "-o", str(tmp_path / "x.png")]) != 0
    assert main(["encode", str(src), "-o", str(tmp_path / "y.cool"), "--preset", "c3-kodak"]) != 0
    assert main(["encode", str(tmp_path / "raw.yuv"), "-o", str(tmp_path / "z.cool")]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "video preset" not in err and "image preset" in err


def test_cli_macs_video_preset(capsys):
    assert main(["macs", "--preset", "c3-uvg", "--frames", "30", "--height", "1080", "--width", "1920"]) == 0
    out = capsys.readouterr().out
    total = [line for line in out.splitlines() if line.startswith("total")][0].split()
    assert total[1] == "4418"
