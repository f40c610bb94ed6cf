import os

import numpy as np
import pytest

from coolchic.evaluation.metrics import psnr_rgb, psnr_yuv
from coolchic.io.image import ImageError, write_image
from coolchic.io.video import (
    Video,
    VideoError,
    is_video_path,
    read_video,
    rgb_to_yuv,
    sample_video_path,
    write_video,
    yuv_to_rgb,
)

BASKETBALL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "video", "BasketballPass_416x240")


def _smooth(t=2, h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    frames = [
        np.stack([np.sin(4 * yy + c + k) * np.cos(3 * xx - k) for c in range(3)], -1) * 0.45 + 0.5 for k in range(t)
    ]
    return np.clip(np.round(np.stack(frames) * 255 + rng.normal(0, 1, (t, h, w, 3))), 0, 255).astype(np.uint8)


def _random(t=3, h=13, w=17, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------- colour conversion


@pytest.mark.parametrize("matrix, red", [("bt601", (81, 90, 240)), ("bt709", (63, 102, 240))])
def test_known_values(matrix, red):
    px = np.array([[[[255, 255, 255], [255, 0, 0], [0, 0, 0]]]], np.uint8)  # white, red, black
    Y, U, V = rgb_to_yuv(px, matrix, False, "444")
    assert (Y[0, 0, 0], U[0, 0, 0], V[0, 0, 0]) == (235, 128, 128)
    assert (Y[0, 0, 1], U[0, 0, 1], V[0, 0, 1]) == red
    assert (Y[0, 0, 2], U[0, 0, 2], V[0, 0, 2]) == (16, 128, 128)
    Yf, Uf, _ = rgb_to_yuv(px, matrix, True, "444")
    assert (Yf[0, 0, 0], Yf[0, 0, 2], Uf[0, 0, 0]) == (255, 0, 128)
    back = yuv_to_rgb(Y, U, V, matrix)
    assert np.abs(back.astype(int) - px).max() <= 1  # red comes back as (255, 1, 0)


def test_601_and_709_differ():
    x = _smooth()
    y601, y709 = rgb_to_yuv(x, "bt601")[0], rgb_to_yuv(x, "bt709")[0]
    assert np.abs(y601.astype(int) - y709).max() > 5
    planes = rgb_to_yuv(x, "bt601")
    assert np.abs(yuv_to_rgb(*planes, "bt601").astype(int) - yuv_to_rgb(*planes, "bt709")).max() > 5


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full_range, bound", [(False, 2), (True, 1)])
def test_444_round_trip_bound(matrix, full_range, bound):
    # Measured over all 2^24 RGB colours: limited range off by at most 2 levels (0.1-0.3% of
    # samples off by 2), full range by at most 1.
    for x in (_random(), _smooth()):
        back = yuv_to_rgb(*rgb_to_yuv(x, matrix, full_range, "444"), matrix, full_range)
        assert back.shape == x.shape and back.dtype == np.uint8
        assert np.abs(back.astype(int) - x).max() <= bound


def test_420_shapes_and_edge_replication():
    x = np.full((1, 3, 5, 3), 128, np.uint8)
    x[0, :, 4] = (255, 0, 0)  # last (odd) column red: its chroma column averages red with itself
    Y, U, V = rgb_to_yuv(x, "bt601", False, "420")
    assert Y.shape == (1, 3, 5) and U.shape == V.shape == (1, 2, 3)
    assert (U[0, :, 2] == 90).all() and (V[0, :, 2] == 240).all()
    assert (U[0, :, :2] == 128).all() and (V[0, :, :2] == 128).all()
    # Nearest-neighbour upsampling: the red column comes back red, its gray neighbours stay gray.
    back = yuv_to_rgb(Y, U, V)
    assert np.abs(back[0, :, 4].astype(int) - (255, 0, 0)).max() <= 2
    assert np.abs(back[0, :, :4].astype(int) - 128).max() <= 1
    # A 2x2 block mean: half red, half gray.
    x = np.full((1, 2, 2, 3), 128, np.uint8)
    x[0, 0] = (255, 0, 0)
    _, U, V = rgb_to_yuv(x, "bt601", False, "420")
    assert (U[0, 0, 0], V[0, 0, 0]) == (round((90.18 + 128) / 2), round((240 + 128) / 2))


def test_420_round_trip_on_smooth_content():
    x = _smooth(h=33, w=31)
    back = yuv_to_rgb(*rgb_to_yuv(x, "bt709", False, "420"), "bt709")
    assert back.shape == x.shape
    assert psnr_rgb(x, back) > 35  # measured 37.6 dB (noisy smooth content, box/nearest chroma)


# ---------------------------------------------------------------------------- y4m


def test_y4m_444_round_trip(tmp_path):
    x = _random()
    p = tmp_path / "a.y4m"
    write_video(p, x, chroma="444", fps=(30000, 1001))
    v = read_video(p)
    assert v.chroma == "444" and v.fps == (30000, 1001) and v.matrix == "bt601" and not v.full_range
    np.testing.assert_array_equal(np.stack(v.yuv), np.stack(rgb_to_yuv(x, chroma="444")))
    assert v.frames.shape == x.shape and np.abs(v.frames.astype(int) - x).max() <= 2
    assert v.name == "a"


@pytest.mark.parametrize("matrix, full_range", [("bt601", False), ("bt709", True)])
def test_y4m_420_planes_exact_odd_size(tmp_path, matrix, full_range):
    rng = np.random.default_rng(1)
    planes = (
        rng.integers(0, 256, (3, 13, 17), dtype=np.uint8),
        rng.integers(0, 256, (3, 7, 9), dtype=np.uint8),
        rng.integers(0, 256, (3, 7, 9), dtype=np.uint8),
    )
    src = Video(
        yuv_to_rgb(*planes, matrix, full_range),
        fps=(50, 1),
        matrix=matrix,
        full_range=full_range,
        chroma="420",
        yuv=planes,
    )
    p = tmp_path / "odd.y4m"
    write_video(p, src)
    assert os.path.getsize(p) == p.read_bytes().index(b"\n") + 1 + 3 * (6 + 13 * 17 + 2 * 7 * 9)
    v = read_video(p)
    for a, b in zip(v.yuv, planes):
        np.testing.assert_array_equal(a, b)
    assert (v.matrix, v.full_range, v.chroma, v.fps) == (matrix, full_range, "420", (50, 1))
    np.testing.assert_array_equal(v.frames, src.frames)
    # Writing it again passes the planes through untouched: byte-identical file.
    write_video(tmp_path / "again.y4m", v)
    assert p.read_bytes() == (tmp_path / "again.y4m").read_bytes()


def test_y4m_header_variants(tmp_path):
    # No C (4:2:0), interlace flag, F0:0, frame parameters, hyphenated range, matrix field.
    y = np.arange(8, dtype=np.uint8).reshape(2, 4)
    u, v = np.array([[100, 150]], np.uint8), np.array([[90, 200]], np.uint8)
    body = b"FRAME Ixyz\n" + y.tobytes() + u.tobytes() + v.tobytes()
    p = tmp_path / "h.y4m"
    p.write_bytes(b"YUV4MPEG2 W4 H2 F0:0 Ip A0:0 X-COLORRANGE=FULL XCOLORMATRIX=BT709 XYSCSS=420JPEG\n" + body * 2)
    vid = read_video(p)
    assert vid.frames.shape == (2, 2, 4, 3) and vid.fps == (25, 1)
    assert vid.full_range and vid.matrix == "bt709" and vid.chroma == "420"
    np.testing.assert_array_equal(vid.yuv[0][1], y)
    np.testing.assert_array_equal(vid.frames, yuv_to_rgb(*vid.yuv, "bt709", True))
    assert read_video(p, matrix="bt601").matrix == "bt601"  # the argument wins over the header
    assert read_video(p, max_frames=1).frames.shape[0] == 1
    # Mono: gray replicated to RGB (limited range: Y 16 -> 0, 235 -> 255).
    p.write_bytes(b"YUV4MPEG2 W2 H1 F25:1 Cmono\nFRAME\n" + bytes([16, 235]))
    vid = read_video(p)
    np.testing.assert_array_equal(vid.frames[0, 0], [[0, 0, 0], [255, 255, 255]])
    # Interlaced: read as progressive, with a warning.
    p.write_bytes(b"YUV4MPEG2 W2 H1 F25:1 It C444\nFRAME\n" + bytes(6))
    with pytest.warns(UserWarning, match="interlaced"):
        assert read_video(p).frames.shape == (1, 1, 2, 3)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"YUV4MPEG W4 H2\nFRAME\n" + bytes(12), "not a y4m file"),
        (b"YUV4MPEG2 W4 H2 C420p10\nFRAME\n" + bytes(24), "not 8-bit"),
        (b"YUV4MPEG2 W4 H2 C422\nFRAME\n" + bytes(16), "unsupported y4m colourspace C422"),
        (b"YUV4MPEG2 W4 H2\nFRAME\n" + bytes(12) + b"FRAME\n" + bytes(5), "frame 2 is truncated"),
        (b"YUV4MPEG2 W4 H2\nFRAME\n" + bytes(12) + b"junk\n", "frame 2: expected a 'FRAME' line"),
        (b"YUV4MPEG2 H2\nFRAME\n" + bytes(12), "width"),
        (b"YUV4MPEG2 W4 H2\n", "no frames"),
        (b"YUV4MPEG2 Wfour H2\n", "bad y4m header field"),
        (b"YUV4MPEG2 W4 H2 XCOLORMATRIX=BT2020\nFRAME\n" + bytes(12), "unsupported colour matrix"),
    ],
)
def test_y4m_errors(tmp_path, content, match):
    p = tmp_path / "bad.y4m"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=match):
        read_video(p)


# ---------------------------------------------------------------------------- raw .yuv


def test_raw_yuv(tmp_path):
    x = _random(t=2, h=13, w=17)
    p = tmp_path / "clip.yuv"
    write_video(p, x)
    assert os.path.getsize(p) == 2 * (13 * 17 + 2 * 7 * 9)
    v = read_video(p, size=(17, 13))
    np.testing.assert_array_equal(
        np.concatenate([q.reshape(2, -1) for q in v.yuv], 1),
        np.concatenate([q.reshape(2, -1) for q in rgb_to_yuv(x)], 1),
    )
    assert v.frames.shape == x.shape and v.chroma == "420"
    assert read_video(p, size=(17, 13), max_frames=1).frames.shape[0] == 1
    with pytest.raises(VideoError, match="needs its frame size"):
        read_video(p)
    with pytest.raises(VideoError, match="not a whole number of 16x13"):
        read_video(p, size=(16, 13))
    with pytest.raises(VideoError, match="4:2:0 only"):
        write_video(p, x, chroma="444")


# ---------------------------------------------------------------------------- PNG folders


def test_png_folder_round_trip_and_overwrite(tmp_path):
    x = _random(t=3, h=9, w=11)
    d = tmp_path / "frames"
    write_video(d, x)
    assert sorted(os.listdir(d)) == ["f001.png", "f002.png", "f003.png"]
    v = read_video(d)
    np.testing.assert_array_equal(v.frames, x)
    assert v.chroma is None and v.yuv is None and v.name == "frames"
    with pytest.raises(FileExistsError, match="already holds 3 frames"):
        write_video(d, x[:1], force=False)
    np.testing.assert_array_equal(read_video(d).frames, x)  # untouched
    write_video(d, x[:2])  # force: the stale third frame goes too
    np.testing.assert_array_equal(read_video(d).frames, x[:2])


def test_png_folder_natural_sort_and_gray(tmp_path):
    d = tmp_path / "seq"
    d.mkdir()
    for i in (10, 2, 1):
        write_image(d / f"f{i}.png", np.full((4, 5, 1), i / 255.0))
    (d / "notes.txt").write_text("not a frame")
    v = read_video(d)
    assert v.frames.shape == (3, 4, 5, 3)
    assert list(v.frames[:, 0, 0, 0]) == [1, 2, 10]  # f1, f2, f10: natural, not lexical, order
    assert list(read_video(d, max_frames=2).frames[:, 0, 0, 1]) == [1, 2]


def test_png_folder_errors(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "readme.txt").write_text("x")
    with pytest.raises(ImageError, match="no PNG frames"):
        read_video(d)
    d = tmp_path / "sizes"
    d.mkdir()
    write_image(d / "f1.png", np.zeros((4, 5, 3)))
    write_image(d / "f2.png", np.zeros((4, 6, 3)))
    with pytest.raises(ImageError, match="f2.png: frame size 6x4 differs from 5x4"):
        read_video(d)
    d = tmp_path / "mixed"
    d.mkdir()
    write_image(d / "f1.png", np.zeros((4, 5, 3)))
    write_image(d / "f2.png", np.zeros((4, 5, 1)))
    with pytest.raises(ImageError, match="mixes gray and RGB"):
        read_video(d)
    d = tmp_path / "deep"
    d.mkdir()
    write_image(d / "f1.png", np.zeros((4, 5, 3)), bit_depth=16)
    with pytest.raises(ImageError, match="only 8-bit"):
        read_video(d)


def test_basketball_pass_reads():
    if not os.path.isdir(BASKETBALL):
        pytest.skip(f"test clip not found at {BASKETBALL} (../shared missing)")
    v = read_video(BASKETBALL, max_frames=3)
    assert v.frames.shape == (3, 240, 416, 3) and v.frames.dtype == np.uint8
    assert v.name == "BasketballPass_416x240"
    assert v.frames.std() > 10  # real content, not a blank frame


# ---------------------------------------------------------------------------- GIF


def test_sample_gif():
    v = read_video(sample_video_path())
    assert v.frames.shape == (24, 25, 14, 3) and v.frames.dtype == np.uint8  # 25 rows x 14 columns
    assert v.fps == (100, 7)  # 70 ms per frame
    assert v.chroma is None and v.yuv is None
    assert v.frames.std() > 10 and np.any(v.frames[0] != v.frames[-1])
    assert read_video(sample_video_path(), max_frames=5).frames.shape[0] == 5


def test_gif_round_trip(tmp_path):
    colours = np.array([[255, 0, 0], [0, 128, 255], [255, 255, 255], [20, 20, 20]], np.uint8)
    x = colours[np.random.default_rng(2).integers(0, 4, (4, 10, 12))]
    p = tmp_path / "c.gif"
    write_video(p, x, fps=(20, 1))
    v = read_video(p)
    assert v.frames.shape == x.shape
    assert np.abs(v.frames.astype(int) - x).max() <= 8  # palette-quantized; few colours survive
    assert v.fps == (20, 1)


# ---------------------------------------------------------------------------- metrics


def test_psnr_rgb_is_mean_of_frame_psnrs():
    rng = np.random.default_rng(3)
    ref = rng.integers(20, 236, (3, 8, 10, 3)).astype(np.uint8)
    noise = np.stack([rng.integers(-s, s + 1, (8, 10, 3)) for s in (1, 4, 16)])
    test = (ref.astype(int) + noise).astype(np.uint8)
    per_frame = [10 * np.log10(255**2 / np.mean((ref[t].astype(float) - test[t]) ** 2)) for t in range(3)]
    global_psnr = 10 * np.log10(255**2 / np.mean((ref.astype(float) - test) ** 2))
    got = psnr_rgb(ref, test)
    assert got == pytest.approx(np.mean(per_frame), abs=1e-9)
    assert abs(got - global_psnr) > 1.0  # different errors per frame: the two definitions differ
    assert psnr_rgb(Video(ref), Video(test)) == pytest.approx(got)
    assert psnr_rgb(ref / 255.0, test / 255.0) == pytest.approx(got)  # floats: peak 1
    assert psnr_rgb(ref, ref) == float("inf")


def test_psnr_yuv_611():
    rng = np.random.default_rng(4)
    ref = tuple(rng.integers(0, 256, s).astype(np.uint8) for s in [(2, 8, 8), (2, 4, 4), (2, 4, 4)])
    test = tuple(
        np.clip(p.astype(int) + rng.integers(-k, k + 1, p.shape), 0, 255).astype(np.uint8)
        for p, k in zip(ref, (2, 6, 10))
    )
    out = psnr_yuv(ref, test)
    for key, r, t in zip("yuv", ref, test):
        assert out[key] == pytest.approx(10 * np.log10(255**2 / np.mean((r.astype(float) - t) ** 2)))
    assert out["y"] > out["u"] > out["v"]
    assert out["yuv611"] == pytest.approx((6 * out["y"] + out["u"] + out["v"]) / 8)


# ---------------------------------------------------------------------------- misc


def test_misc_paths_and_errors(tmp_path):
    assert is_video_path("a.Y4M") and is_video_path("b.yuv") and is_video_path("c.gif")
    assert is_video_path(tmp_path) and not is_video_path("d.png") and not is_video_path(tmp_path / "nope")
    with pytest.raises(ImageError, match="no such file"):
        read_video(tmp_path / "missing.y4m")
    (tmp_path / "x.mp4").write_bytes(b"\0")
    with pytest.raises(ImageError, match="unsupported video format"):
        read_video(tmp_path / "x.mp4")
    with pytest.raises(ImageError, match="unsupported video format"):
        write_video(tmp_path / "x.mp4", _random())
    p = tmp_path / "keep.y4m"
    p.write_bytes(b"original")
    with pytest.raises(FileExistsError):
        write_video(p, _random(), force=False)
    assert p.read_bytes() == b"original"
    assert sorted(os.listdir(tmp_path)) == ["keep.y4m", "x.mp4"]  # no temporary file left behind
    with pytest.raises(ImageError, match="chroma"):
        write_video(tmp_path / "y.y4m", _random(), chroma="422")
    with pytest.raises(ImageError, match="colour matrix"):
        rgb_to_yuv(_random(), "bt2020")
    write_video(tmp_path / "s.y4m", _random())
    with pytest.raises(ImageError, match="not the given size 16x16"):
        read_video(tmp_path / "s.y4m", size=(16, 16))
