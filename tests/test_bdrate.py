"""BD-rate / BD-PSNR: published C3 number, invariants, errors, and the `bdrate` subcommand."""

import json
import os

import numpy as np
import pytest

from coolchic.cli.curves import main
from coolchic.evaluation.anchors import CurveError, read_c3_csv, read_compressai_json
from coolchic.evaluation.bdrate import bd_psnr, bd_rate, compare

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.path.join(REPO, "..", "shared", "anchors")
needs_anchors = pytest.mark.skipif(
    not os.path.isdir(ANCHORS), reason=f"published anchors not found at {os.path.normpath(ANCHORS)} (../shared)"
)

# A smooth synthetic curve: log-rate cubic in PSNR, 6 points.
PSNR = np.array([28.0, 30.5, 33.0, 35.5, 38.0, 40.5])
RATE = np.exp(-6.0 + 0.16 * PSNR + 0.0005 * (PSNR - 34.0) ** 3)


def _kodak(name):
    return os.path.join(ANCHORS, name)


@needs_anchors
def test_c3_vs_vtm_matches_published_number():
    """C3 reports +4.97 % against VTM on Kodak (macs_kodak.csv); cubic fit, PSNR overlap."""
    c3 = read_c3_csv(_kodak("c3/rd_kodak_c3.csv"))
    vtm = read_compressai_json(_kodak("compressai/kodak/vtm.json"))
    cubic = bd_rate(vtm.bpp, vtm.psnr, c3.bpp, c3.psnr, method="cubic")
    assert cubic == pytest.approx(4.97, abs=0.15)
    # pchip differs by interpolation only; pinned loosely as a regression check.
    pchip = bd_rate(vtm.bpp, vtm.psnr, c3.bpp, c3.psnr, method="pchip")
    assert pchip == pytest.approx(5.20, abs=0.05)
    # The other C3 Kodak entry of the same table (C3 adapt., +3.24 %).
    c3a = read_c3_csv(_kodak("c3/rd_kodak_c3_adaptive.csv"))
    assert bd_rate(vtm.bpp, vtm.psnr, c3a.bpp, c3a.psnr) == pytest.approx(3.24, abs=0.15)
    # Swapping anchor and test flips the sign (approximately the inverse ratio).
    back = bd_rate(c3.bpp, c3.psnr, vtm.bpp, vtm.psnr)
    assert back < 0 and abs(back) == pytest.approx(100 * (1 - 1 / (1 + cubic / 100)), abs=0.5)
    rec = compare(c3, vtm)
    assert rec["bd_rate_percent"] == pytest.approx(cubic) and rec["bd_psnr_db"] < 0


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_identity_and_scaling(method):
    assert bd_rate(RATE, PSNR, RATE, PSNR, method=method) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(RATE, PSNR, 0.9 * RATE, PSNR, method=method) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(RATE, PSNR, 1.25 * RATE, PSNR, method=method) == pytest.approx(25.0, abs=1e-9)
    assert bd_psnr(RATE, PSNR, RATE, PSNR, method=method) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATE, PSNR, RATE, PSNR + 0.5, method=method) == pytest.approx(0.5, abs=1e-9)
    # Point order does not matter.
    perm = np.array([3, 0, 5, 1, 4, 2])
    assert bd_rate(RATE, PSNR, 0.9 * RATE[perm], PSNR[perm], method=method) == pytest.approx(-10.0, abs=1e-9)


def test_only_overlap_is_integrated():
    """A test curve covering part of the anchor's PSNR range: -10 % on that part only."""
    part = slice(1, 5)
    assert bd_rate(RATE, PSNR, 0.9 * RATE[part], PSNR[part], method="cubic") == pytest.approx(-10.0, abs=1e-6)
    # pchip end slopes differ on a sub-curve, so only approximately -10 % there.
    assert bd_rate(RATE, PSNR, 0.9 * RATE[2:], PSNR[2:], method="pchip") == pytest.approx(-10.0, abs=0.2)


def test_methods_agree_on_loglinear_curve():
    rate = np.exp(0.2 * PSNR - 5)
    shifted = np.exp(0.2 * (PSNR + 0.3) - 5) * 0.95
    a = bd_rate(rate, PSNR, shifted, PSNR + 0.3, method="cubic")
    b = bd_rate(rate, PSNR, shifted, PSNR + 0.3, method="pchip")
    assert a == pytest.approx(b, abs=1e-9) and a == pytest.approx(-5.0, abs=1e-9)


def test_errors():
    with pytest.raises(ValueError, match="at least 4"):
        bd_rate(RATE[:3], PSNR[:3], RATE, PSNR)
    with pytest.raises(CurveError, match="at least 4"):
        bd_psnr(RATE, PSNR, RATE[:3], PSNR[:3])
    assert bd_rate(RATE[:3], PSNR[:3], RATE[:3], PSNR[:3], method="pchip") == pytest.approx(0.0)
    with pytest.raises(CurveError, match="at least 2"):
        bd_rate(RATE[:1], PSNR[:1], RATE, PSNR, method="pchip")
    with pytest.raises(CurveError, match="do not overlap"):
        bd_rate(RATE, PSNR, RATE, PSNR + 20.0)
    with pytest.raises(CurveError, match="do not overlap"):
        bd_psnr(RATE, PSNR, RATE * 100.0, PSNR)
    with pytest.raises(CurveError, match="positive"):
        bd_rate(np.r_[0.0, RATE[1:]], PSNR, RATE, PSNR)
    with pytest.raises(CurveError, match="non-finite"):
        bd_rate(RATE, np.r_[np.nan, PSNR[1:]], RATE, PSNR)
    with pytest.raises(CurveError, match="lengths"):
        bd_rate(RATE, PSNR[:-1], RATE, PSNR)
    with pytest.raises(CurveError, match="strictly increasing"):
        bd_rate(RATE, np.r_[PSNR[:2], PSNR[1:-1]], RATE, PSNR, method="pchip")
    with pytest.raises(CurveError, match="unknown BD method"):
        bd_rate(RATE, PSNR, RATE, PSNR, method="akima")


def _write_csv(path, rate, psnr):
    with open(path, "w") as f:
        f.write("bpp,psnr\n" + "".join(f"{r},{p}\n" for r, p in zip(rate, psnr)))
    return str(path)


def test_cli_bdrate(tmp_path, capsys):
    a = _write_csv(tmp_path / "a.csv", RATE, PSNR)
    b = _write_csv(tmp_path / "b.csv", 0.9 * RATE, PSNR)
    assert main(["bdrate", b, a]) == 0
    out = capsys.readouterr().out
    assert "-10.00 %" in out
    assert main(["bdrate", b, a, "--method", "pchip", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["method"] == "pchip" and rec["bd_rate_percent"] == pytest.approx(-10.0)
    assert rec["test"] == "b" and rec["anchor"] == "a"


def test_cli_bdrate_errors(tmp_path, capsys):
    a = _write_csv(tmp_path / "a.csv", RATE, PSNR)
    far = _write_csv(tmp_path / "far.csv", RATE, PSNR + 30)
    assert main(["bdrate", str(tmp_path / "missing.json"), a]) != 0
    err = capsys.readouterr().err
    assert "no such file" in err and len(err.strip().splitlines()) == 1
    assert main(["bdrate", far, a]) != 0
    assert "do not overlap" in capsys.readouterr().err
    short = _write_csv(tmp_path / "short.csv", RATE[:3], PSNR[:3])
    assert main(["bdrate", short, a]) != 0
    assert "at least 4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bdrate", a, a, "--method", "spline"])


@needs_anchors
def test_cli_bdrate_published(capsys):
    rc = main(["bdrate", _kodak("c3/rd_kodak_c3.csv"), _kodak("compressai/kodak/vtm.json"), "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["bd_rate_percent"] == pytest.approx(4.97, abs=0.15)


def _jctvc_pchip_integral(x, y, lo, hi):
    """Independent 4-point piecewise-cubic Hermite (JCT-VC CTC sheet rules), integrated numerically."""
    h = np.diff(x)
    delta = np.diff(y) / h
    d = np.zeros(4)
    d[0] = ((2 * h[0] + h[1]) * delta[0] - h[0] * delta[1]) / (h[0] + h[1])
    if d[0] * delta[0] < 0:
        d[0] = 0
    elif delta[0] * delta[1] < 0 and abs(d[0]) > abs(3 * delta[0]):
        d[0] = 3 * delta[0]
    for i in (1, 2):
        w1, w2 = 2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]
        d[i] = 0 if delta[i - 1] * delta[i] <= 0 else (w1 + w2) / (w1 / delta[i - 1] + w2 / delta[i])
    d[3] = ((2 * h[2] + h[1]) * delta[2] - h[2] * delta[1]) / (h[2] + h[1])
    if d[3] * delta[2] < 0:
        d[3] = 0
    elif delta[2] * delta[1] < 0 and abs(d[3]) > abs(3 * delta[2]):
        d[3] = 3 * delta[2]
    t = np.linspace(lo, hi, 200001)
    k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, 2)
    s = (t - x[k]) / h[k]
    v = (
        (2 * s**3 - 3 * s**2 + 1) * y[k]
        + (s**3 - 2 * s**2 + s) * h[k] * d[k]
        + (-2 * s**3 + 3 * s**2) * y[k + 1]
        + (s**3 - s**2) * h[k] * d[k + 1]
    )
    return np.sum((v[1:] + v[:-1]) / 2 * np.diff(t))


def test_pchip_matches_jctvc_sheet_rules():
    """Four points per curve, as in the JCT-VC/JVET sheets (QP 22/27/32/37)."""
    pa = np.array([31.2, 33.9, 36.4, 38.7])
    ra = np.array([0.12, 0.31, 0.70, 1.45])
    pb = np.array([31.0, 34.2, 36.9, 39.3])
    rb = np.array([0.11, 0.30, 0.68, 1.50])
    lo, hi = max(pa[0], pb[0]), min(pa[-1], pb[-1])
    ia = _jctvc_pchip_integral(pa, np.log10(ra), lo, hi)
    ib = _jctvc_pchip_integral(pb, np.log10(rb), lo, hi)
    expected = 100 * (10 ** ((ib - ia) / (hi - lo)) - 1)
    assert bd_rate(ra, pa, rb, pb, method="pchip") == pytest.approx(expected, abs=1e-6)
