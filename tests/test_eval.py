"""`coolchic eval`: real bitstreams per (image, lambda), means, resuming, and plotting the results."""

import json
import os
import time

import pytest

from coolchic.cli.main import main
from coolchic.evaluation.runner import EvalError, centre_crop, find_images, parse_crop, summarize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(REPO, "..", "shared")
VTM = os.path.join(SHARED, "anchors", "compressai", "kodak", "vtm.json")
EVAL_ARGS = ["--crop", "32x32", "--preset", "mac-500", "--recipe", "c3", "--steps", "20", "--quiet"]


def kodak_path(i: int) -> str:
    p = os.path.join(SHARED, "data", "kodak", f"kodim{i:02d}.png")
    if not os.path.exists(p):
        pytest.skip(f"Kodak image not found at {os.path.normpath(p)} (../shared missing)")
    return p


def _vtm():
    if not os.path.exists(VTM):
        pytest.skip(f"VTM anchor not found at {VTM} (../shared missing)")
    return VTM


class _CountingEncoder:
    """Wraps coolchic.api.image.encode_image to count the fits that actually run."""

    def __init__(self, monkeypatch):
        import coolchic.api.image

        self.calls = []
        self._orig = coolchic.api.image.encode_image
        monkeypatch.setattr(coolchic.api.image, "encode_image", self)

    def __call__(self, img, config, **kw):
        self.calls.append(kw["lmbda"])
        return self._orig(img, config, **kw)


def test_eval_resume_and_plot(tmp_path, monkeypatch, capsys):
    images = [kodak_path(i) for i in (1, 2, 3)]
    vtm = _vtm()
    out = tmp_path / "results.json"
    enc = _CountingEncoder(monkeypatch)

    rc = main(["eval", *images, "--lmbda", "1e-3", "1e-2", "--out", str(out), "--anchor", vtm, *EVAL_ARGS])
    assert rc == 0
    printed = capsys.readouterr().out
    # Two points are too few for a cubic BD fit: reported, not crashed.
    assert "BD-rate vs VTM" in printed and "n/a" in printed
    assert len(enc.calls) == 6
    doc = json.loads(out.read_text())
    rows = doc["images"]
    assert len(rows) == 6
    assert {(r["image"], r["lmbda"]) for r in rows} == {(f"kodim0{i}", lm) for i in (1, 2, 3) for lm in (1e-3, 1e-2)}
    for r in rows:
        assert r["decoded_matches_encoder"] is True
        assert (r["height"], r["width"], r["n_pixels"]) == (32, 32, 1024)
        assert r["bpp"] == pytest.approx(8.0 * r["bytes"] / 1024)
        assert abs(r["bpp_estimated"] - r["bpp"]) < 0.2 * r["bpp"]  # estimate beside the real figure
        assert r["psnr"] > 10 and r["macs_per_pixel"] > 0
        assert r["encode_seconds"] > 0 and r["decode_seconds"] > 0
        assert (r["steps"], r["preset"], r["recipe"], r["crop"]) == (20, "mac-500", "c3", "32x32")
        assert r["ms_ssim"] is None  # undefined below 161 pixels a side
    means = {m["lmbda"]: m for m in doc["means"]}
    assert sorted(means) == [1e-3, 1e-2]
    for lm, m in means.items():
        same = [r for r in rows if r["lmbda"] == lm]
        assert m["n_images"] == 3
        assert m["bpp"] == pytest.approx(sum(r["bpp"] for r in same) / 3)
        assert m["psnr"] == pytest.approx(sum(r["psnr"] for r in same) / 3)

    # A re-run skips every finished row and leaves the file as it was.
    before = out.read_bytes()
    t = time.perf_counter()
    rc = main(["eval", *images, "--lmbda", "1e-3", "1e-2", "--out", str(out), *EVAL_ARGS])
    assert rc == 0 and len(enc.calls) == 6
    assert time.perf_counter() - t < 10
    assert out.read_bytes() == before
    assert "6 of 6" in capsys.readouterr().err

    # A third lambda: only its three rows are fitted; the finished rows are kept unchanged.
    rc = main(["eval", *images, "--lmbda", "1e-3", "1e-2", "3e-2", "--out", str(out), *EVAL_ARGS])
    assert rc == 0 and enc.calls[6:] == [3e-2] * 3
    doc2 = json.loads(out.read_text())
    old = {(r["image"], r["lmbda"]): r for r in rows}
    new = {(r["image"], r["lmbda"]): r for r in doc2["images"]}
    assert len(new) == 9 and all(new[k] == v for k, v in old.items())
    assert len(doc2["means"]) == 3

    # `coolchic plot` with the VTM anchor draws both curves into a PNG.
    import coolchic.evaluation.plotting

    seen = {}
    orig_plot = coolchic.evaluation.plotting.plot_rd

    def spy(curves, out_png, title=None, anchors=()):
        seen.update(curves=curves, anchors=anchors)
        seen["returned"] = orig_plot(curves, out_png, title=title, anchors=anchors)
        return seen["returned"]

    monkeypatch.setattr(coolchic.evaluation.plotting, "plot_rd", spy)
    png = tmp_path / "rd.png"
    rc = main(["plot", str(out), "--anchor", vtm, "-o", str(png)])
    assert rc == 0
    assert seen["returned"] == str(png)
    assert png.exists() and png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [a.name for a in seen["anchors"]] == ["VTM"] and len(seen["anchors"][0]) > 4
    assert len(seen["curves"]) == 1 and len(seen["curves"][0]) == 3
    assert seen["curves"][0].aggregation == "mean-psnr"


def test_eval_errors_are_one_line(tmp_path, capsys):
    img = kodak_path(1)
    out = str(tmp_path / "r.json")
    assert main(["eval", img, "--lmbda", "1e-3", "--out", out, "--crop", "9999x32", "--quiet"]) == 1
    assert "larger than the image" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nope"), "--lmbda", "1e-3", "--out", out]) == 1
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert main(["eval", img, "--lmbda", "1e-3", "--out", str(tmp_path / "bad.json")]) == 1
    assert "not a results file" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_helpers(tmp_path):
    import numpy as np

    from coolchic.io.image import Image

    assert parse_crop("64x48") == (64, 48) and parse_crop("32") == (32, 32) and parse_crop(None) is None
    with pytest.raises(EvalError):
        parse_crop("64x")
    img = Image(np.arange(6 * 8 * 3, dtype=np.float32).reshape(6, 8, 3) / 200, 8)
    c = centre_crop(img, (2, 4))
    assert c.pixels.shape == (2, 4, 3) and np.array_equal(c.pixels, img.pixels[2:4, 2:6])
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "a.ppm").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert [os.path.basename(p) for p in find_images([str(tmp_path)])] == ["a.ppm", "b.png"]
    rows = [
        {
            "image": "a",
            "lmbda": 1.0,
            "bpp": 1.0,
            "bpp_estimated": 1.0,
            "psnr": 30.0,
            "macs_per_pixel": 1.0,
            "encode_seconds": 1.0,
            "decode_seconds": 1.0,
            "n_pixels": 100,
        },
        {
            "image": "b",
            "lmbda": 1.0,
            "bpp": 2.0,
            "bpp_estimated": 2.0,
            "psnr": 40.0,
            "macs_per_pixel": 1.0,
            "encode_seconds": 1.0,
            "decode_seconds": 1.0,
            "n_pixels": 300,
        },
    ]
    (m,) = summarize(rows)
    assert m["bpp"] == pytest.approx(1.75)  # total bits / total pixels
    assert m["psnr"] == pytest.approx(35.0)  # mean of per-image PSNR
    assert m["psnr_of_mean_mse"] == pytest.approx(-10 * np.log10(0.25 * 1e-3 + 0.75 * 1e-4))


def test_eval_batch_fits_same_size_images_together(tmp_path, monkeypatch):
    """--batch: the images of one size are fitted in one vmapped loop (the default is one after
    the other) and give the rows a one-by-one evaluation gives."""
    import coolchic.fitting.loop

    files = [kodak_path(1), kodak_path(5)]
    one = tmp_path / "one.json"
    assert main(["eval", *files, "--lmbda", "2e-3", "--out", str(one), *EVAL_ARGS]) == 0
    modes = []
    real = coolchic.fitting.loop.chunk_fn
    monkeypatch.setattr(coolchic.fitting.loop, "chunk_fn", lambda *a, **k: modes.append((a[2], k)) or real(*a, **k))
    together = tmp_path / "together.json"
    assert main(["eval", *files, "--lmbda", "2e-3", "--out", str(together), "--batch", *EVAL_ARGS]) == 0
    assert modes and all(m == "vmap" and k == {"per_candidate": True} for m, k in modes)
    a = {r["image"]: r for r in json.loads(one.read_text())["images"]}
    b = {r["image"]: r for r in json.loads(together.read_text())["images"]}
    assert sorted(a) == sorted(b) == ["kodim01", "kodim05"]
    for k in a:
        assert b[k]["decoded_matches_encoder"]
        assert b[k]["psnr"] == pytest.approx(a[k]["psnr"], abs=0.05)
        assert b[k]["bpp"] == pytest.approx(a[k]["bpp"], rel=0.03)
    # --jobs 2: the same fits run concurrently, so the same files, byte for byte
    jobs = tmp_path / "jobs.json"
    assert main(["eval", *files, "--lmbda", "2e-3", "--out", str(jobs), "--jobs", "2", *EVAL_ARGS]) == 0
    c = {r["image"]: r for r in json.loads(jobs.read_text())["images"]}
    for k in a:
        assert (c[k]["bytes"], c[k]["psnr"], c[k]["bpp_estimated"]) == (
            a[k]["bytes"],
            a[k]["psnr"],
            a[k]["bpp_estimated"],
        )
    assert main(["eval", *files, "--lmbda", "2e-3", "--out", str(jobs), "--jobs", "2", "--batch", *EVAL_ARGS]) == 1
