"""Curve readers on every anchor format in ../shared/anchors and on results.json."""

import glob
import json
import os

import numpy as np
import pytest

from coolchic.evaluation.anchors import (
    Curve,
    CurveError,
    coolchic_image_curve,
    coolchic_images,
    load_curve,
    read_c3_csv,
    read_compressai_json,
    read_coolchic_rows,
    read_coolchic_tsv,
    read_macs_csv,
    read_results_json,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.path.join(REPO, "..", "shared", "anchors")
needs_anchors = pytest.mark.skipif(
    not os.path.isdir(ANCHORS), reason=f"published anchors not found at {os.path.normpath(ANCHORS)} (../shared)"
)


def _files(pattern):
    return sorted(glob.glob(os.path.join(ANCHORS, pattern)))


def _is_curve(c, n_min=4):
    assert isinstance(c, Curve) and len(c) >= n_min
    assert np.all(np.diff(c.bpp) > 0), "sorted by rate"
    assert np.all(c.bpp > 0) and np.all((c.psnr > 15) & (c.psnr < 60))
    if c.ms_ssim is not None:
        assert c.ms_ssim.shape == c.bpp.shape and np.all((c.ms_ssim > 0.5) & (c.ms_ssim <= 1))


@needs_anchors
def test_compressai_json_all_files():
    files = _files("compressai/*/*.json")
    assert len(files) > 50
    loaded = 0
    for f in files:
        res = json.load(open(f))["results"]
        if "psnr-rgb" not in res:
            with pytest.raises(CurveError, match="psnr-rgb"):
                load_curve(f)
            continue
        c = load_curve(f)
        _is_curve(c, n_min=6)
        assert c.aggregation == "mean-psnr"
        assert sorted(c.bpp.tolist()) == sorted(res["bpp"])
        loaded += 1
    assert loaded > 45
    vtm = read_compressai_json(os.path.join(ANCHORS, "compressai/kodak/vtm.json"))
    assert vtm.name == "VTM" and len(vtm) == 8 and vtm.ms_ssim is not None
    assert vtm.psnr[0] == pytest.approx(26.14484539430146)
    # ms-ssim in dB ("paper-*" files) comes back linear.
    paper = read_compressai_json(os.path.join(ANCHORS, "compressai/kodak/paper-minnen2018-checkerboard_mse.json"))
    assert paper.ms_ssim is not None and np.all(paper.ms_ssim < 1)
    assert read_compressai_json(os.path.join(ANCHORS, "compressai/kodak/vtm.json"), name="x").name == "x"


@needs_anchors
def test_c3_csv_all_files():
    files = _files("c3/rd_*.csv")
    assert len(files) >= 5
    for f in files:
        c = load_curve(f)
        _is_curve(c, n_min=8)
        assert c.ms_ssim is None and c.aggregation == "mean-psnr"
    k = read_c3_csv(os.path.join(ANCHORS, "c3/rd_kodak_c3.csv"))
    assert len(k) == 14 and k.name == "rd_kodak_c3"
    assert k.bpp[0] == pytest.approx(0.09268238286798199) and k.psnr[-1] == pytest.approx(40.8411971728007)
    # The MACs tables are not curves; they have their own reader.
    with pytest.raises(CurveError, match="read_macs_csv"):
        load_curve(os.path.join(ANCHORS, "c3/macs_kodak.csv"))
    for f in _files("c3/macs_*.csv"):
        rows = read_macs_csv(f)
        assert rows and all(r["macs_per_pixel"] > 0 for r in rows)
    kodak = {r["method"]: r for r in read_macs_csv(os.path.join(ANCHORS, "c3/macs_kodak.csv"))}
    assert kodak["C3"]["bd_rate"] == pytest.approx(4.97) and kodak["C3"]["macs_per_pixel"] == 1770


@needs_anchors
def test_coolchic_tsv_all_files():
    files = _files("coolchic/*.tsv")
    assert len(files) >= 6
    for f in files:
        for agg in ("mse", "psnr"):
            c = load_curve(f, aggregate=agg)
            _is_curve(c, n_min=4)
            assert c.lmbda is not None and len(np.unique(c.lmbda)) == len(c)
        # Mean PSNR >= PSNR of the mean MSE (Jensen); equal rates.
        m, p = read_coolchic_tsv(f, "mse"), read_coolchic_tsv(f, "psnr")
        assert m.aggregation == "mse" and p.aggregation == "mean-psnr"
        np.testing.assert_allclose(m.bpp, p.bpp)
        assert np.all(p.psnr >= m.psnr - 1e-12)


@needs_anchors
def test_coolchic_kodak_aggregation_by_hand():
    f = os.path.join(ANCHORS, "coolchic/v5.0-image-kodak.tsv")
    rows = read_coolchic_rows(f)
    assert len(rows) == 120
    sel = [r for r in rows if r["lmbda"] == 0.001]
    assert len(sel) == 24
    bits = sum(r["bpp"] * r["pixels"] for r in sel)
    pixels = sum(r["pixels"] for r in sel)
    mse = sum(10 ** (-r["psnr"] / 10) * r["pixels"] for r in sel) / pixels
    c = read_coolchic_tsv(f)
    i = int(np.flatnonzero(c.lmbda == 0.001)[0])
    assert c.bpp[i] == pytest.approx(bits / pixels, rel=1e-12)
    assert c.psnr[i] == pytest.approx(-10 * np.log10(mse), rel=1e-12)
    p = read_coolchic_tsv(f, aggregate="psnr")
    assert p.psnr[i] == pytest.approx(np.mean([r["psnr"] for r in sel]), rel=1e-12)
    # Per-image access.
    names = coolchic_images(f)
    assert len(names) == 24 and names[0] == "kodim01"
    one = coolchic_image_curve(f, "kodim01")
    assert len(one) == 5 and one.name == "kodim01" and one.aggregation == "single-image"
    k1 = sorted((r["bpp"], r["psnr"]) for r in rows if r["image"] == "kodim01")
    np.testing.assert_allclose(one.bpp, [b for b, _ in k1])
    np.testing.assert_allclose(one.psnr, [p for _, p in k1])
    with pytest.raises(CurveError, match="kodim99"):
        coolchic_image_curve(f, "kodim99")


def _results(tmp_path, images, **top):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"images": images, **top}))
    return str(path)


def test_results_json(tmp_path):
    imgs = []
    for lm, (b1, p1, b2, p2) in {0.001: (0.5, 34.0, 0.7, 30.0), 0.01: (0.2, 29.0, 0.3, 27.0)}.items():
        imgs.append({"image": "a.png", "lmbda": lm, "bpp": b1, "psnr": p1, "ms_ssim": 0.98, "fit_s": 3.0})
        imgs.append({"image": "b.png", "lmbda": lm, "bpp": b2, "psnr": p2, "ms_ssim": 0.96})
    path = _results(tmp_path, imgs, name="mine")
    c = load_curve(path)
    assert c.name == "mine" and c.aggregation == "mean-psnr" and len(c) == 2
    np.testing.assert_allclose(c.bpp, [0.25, 0.6])
    np.testing.assert_allclose(c.psnr, [28.0, 32.0])
    np.testing.assert_allclose(c.ms_ssim, [0.97, 0.97])
    np.testing.assert_allclose(c.lmbda, [0.01, 0.001])
    m = read_results_json(path, aggregate="mse")
    assert m.aggregation == "mse"
    assert m.psnr[1] == pytest.approx(-10 * np.log10((10**-3.4 + 10**-3.0) / 2))
    # Without a name, the file stem; with n_pixels, pixel-weighted rates.
    for im in imgs:
        im["n_pixels"] = 100 if im["image"] == "a.png" else 300
    c2 = load_curve(_results(tmp_path, imgs), name=None)
    assert c2.name == "results" and c2.bpp[1] == pytest.approx((0.5 * 100 + 0.7 * 300) / 400)
    # No ms_ssim on one image: the curve has none.
    del imgs[0]["ms_ssim"]
    assert load_curve(_results(tmp_path, imgs)).ms_ssim is None


def test_results_json_errors(tmp_path):
    ok = {"image": "a", "lmbda": 0.01, "bpp": 0.3, "psnr": 30.0}
    with pytest.raises(CurveError, match="lacks psnr"):
        load_curve(_results(tmp_path, [{"image": "a", "lmbda": 0.01, "bpp": 0.3}]))
    with pytest.raises(CurveError, match="different images"):
        load_curve(_results(tmp_path, [ok, {**ok, "image": "b"}, {**ok, "lmbda": 0.1}]))
    with pytest.raises(CurveError, match="not a number"):
        load_curve(_results(tmp_path, [{**ok, "bpp": "lots"}]))
    with pytest.raises(CurveError, match="no per-image rows"):
        load_curve(_results(tmp_path, []))


def test_load_curve_errors(tmp_path):
    with pytest.raises(CurveError, match="no such file"):
        load_curve(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CurveError, match="not valid JSON"):
        load_curve(bad)
    other = tmp_path / "other.json"
    other.write_text('{"foo": 1}')
    with pytest.raises(CurveError, match="neither"):
        load_curve(other)
    txt = tmp_path / "curve.txt"
    txt.write_text("bpp,psnr\n0.1,30\n")
    with pytest.raises(CurveError, match="unknown curve format"):
        load_curve(txt)
    csv = tmp_path / "x.csv"
    csv.write_text("rate,quality\n0.1,30\n")
    with pytest.raises(CurveError, match="bpp,psnr"):
        load_curve(csv)
    tsv = tmp_path / "x.tsv"
    tsv.write_text("seq_name\tlmbda\n")
    with pytest.raises(CurveError, match="missing column"):
        load_curve(tsv)
    with pytest.raises(CurveError, match="aggregation"):
        load_curve(csv, aggregate="median")
    with pytest.raises(CurveError, match="is a directory"):
        read_c3_csv(str(tmp_path))
    assert issubclass(CurveError, ValueError)


def test_curve_sorts_and_validates():
    c = Curve("x", bpp=[0.5, 0.1, 0.3], psnr=[35, 28, 31], ms_ssim=[0.99, 0.9, 0.95], lmbda=[1e-4, 1e-2, 1e-3])
    np.testing.assert_allclose(c.bpp, [0.1, 0.3, 0.5])
    np.testing.assert_allclose(c.psnr, [28, 31, 35])
    np.testing.assert_allclose(c.ms_ssim, [0.9, 0.95, 0.99])
    np.testing.assert_allclose(c.lmbda, [1e-2, 1e-3, 1e-4])
    with pytest.raises(CurveError, match="PSNR values"):
        Curve("x", bpp=[0.1, 0.2], psnr=[30])
    with pytest.raises(CurveError, match="ms_ssim"):
        Curve("x", bpp=[0.1, 0.2], psnr=[30, 31], ms_ssim=[0.9])
