"""Bjøntegaard delta metrics (BD-rate, BD-PSNR) between two rate-distortion curves.

Conventions (those of VCEG-M33, C3, CompressAI and the JVET CTC sheets):

* curve A is the *anchor*, curve B the *test*;
* BD-rate is the average relative rate difference of B against A at equal PSNR, in
  percent: negative means B needs fewer bits;
* BD-PSNR is the average PSNR difference of B minus A at equal rate, in dB;
* rates enter through their logarithm (the base cancels out) and the average is
  taken over the overlap of the two curves' ranges only -- no extrapolation.

Two interpolations are offered:

* ``"cubic"``: one least-squares cubic polynomial per curve (Bjøntegaard's original,
  used by C3 and most papers); needs at least 4 points per curve.
* ``"pchip"``: piecewise-cubic Hermite interpolation through the points (JCT-VC/JVET
  CTC Excel sheets, FAU-LMS ``bjontegaard``), integrated exactly; robust to the
  wiggles a global cubic can add.  Needs 2+ points and strictly monotone abscissae.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coolchic.evaluation.anchors import Curve, CurveError

METHODS = ("cubic", "pchip")
_MIN_POINTS = {"cubic": 4, "pchip": 2}


def _as_xy(x, y, what: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve's (abscissa, ordinate) and sort it by abscissa."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise CurveError(f"{what}: rate and PSNR have different lengths ({x.size} vs {y.size})")
    need = _MIN_POINTS[method]
    if x.size < need:
        raise CurveError(f"{what}: {x.size} point(s), the {method} BD fit needs at least {need}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise CurveError(f"{what}: non-finite rate or PSNR values")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if method == "pchip" and np.any(np.diff(x) <= 0):
        raise CurveError(f"{what}: repeated values; pchip needs strictly increasing points")
    return x, y


def _log_rate(rate, what: str) -> np.ndarray:
    rate = np.asarray(rate, dtype=np.float64).reshape(-1)
    if np.any(~(rate > 0)):
        raise CurveError(f"{what}: rates must be positive and finite")
    return np.log(rate)


def _mean_over_overlap(xa, ya, xb, yb, method: str, axis_name: str) -> tuple[float, float, float]:
    """Mean of (fit_b - fit_a) over the overlap of the x ranges, plus the overlap bounds."""
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        raise CurveError(
            f"curves do not overlap in {axis_name}: anchor spans [{xa[0]:.4g}, {xa[-1]:.4g}], "
            f"test spans [{xb[0]:.4g}, {xb[-1]:.4g}]"
        )
    if method == "cubic":
        # Centre x before fitting: polyfit in PSNR ~ 40 dB is otherwise badly conditioned.
        c = 0.5 * (lo + hi)
        integrals = []
        for x, y in ((xa, ya), (xb, yb)):
            p = np.polyint(np.polyfit(x - c, y, 3))
            integrals.append(np.polyval(p, hi - c) - np.polyval(p, lo - c))
    else:
        from scipy.interpolate import PchipInterpolator

        integrals = [PchipInterpolator(x, y, extrapolate=False).integrate(lo, hi) for x, y in ((xa, ya), (xb, yb))]
    return float((integrals[1] - integrals[0]) / (hi - lo)), float(lo), float(hi)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise CurveError(f"unknown BD method {method!r}; use one of {', '.join(METHODS)}")
    return method


def bd_rate(rate_a, psnr_a, rate_b, psnr_b, method: str = "cubic") -> float:
    """BD-rate of curve B (test) against curve A (anchor), in percent.

    log(rate) is interpolated as a function of PSNR for each curve and its mean
    difference over the common PSNR interval is turned back into a rate ratio:
    ``100 * (exp(mean(log r_b - log r_a)) - 1)``.  Raises :class:`CurveError` (a
    ``ValueError``) for too few points, bad values or non-overlapping PSNR ranges.
    """
    _check_method(method)
    la, lb = _log_rate(rate_a, "anchor"), _log_rate(rate_b, "test")
    pa, la = _as_xy(psnr_a, la, "anchor", method)
    pb, lb = _as_xy(psnr_b, lb, "test", method)
    mean_diff, _, _ = _mean_over_overlap(pa, la, pb, lb, method, "PSNR")
    return float(100.0 * np.expm1(mean_diff))


def bd_psnr(rate_a, psnr_a, rate_b, psnr_b, method: str = "cubic") -> float:
    """BD-PSNR of curve B (test) against curve A (anchor), in dB (positive = B better).

    PSNR is interpolated as a function of log(rate) and its mean difference is taken
    over the common log-rate interval.
    """
    _check_method(method)
    la, lb = _log_rate(rate_a, "anchor"), _log_rate(rate_b, "test")
    la, pa = _as_xy(la, psnr_a, "anchor", method)
    lb, pb = _as_xy(lb, psnr_b, "test", method)
    mean_diff, _, _ = _mean_over_overlap(la, pa, lb, pb, method, "rate")
    return mean_diff


def compare(test: Curve, anchor: Curve, method: str = "cubic") -> dict[str, Any]:
    """BD-rate and BD-PSNR of ``test`` against ``anchor`` as one JSON-ready record.

    BD-PSNR is ``None`` (with ``bd_psnr_error`` set) when only the PSNR ranges overlap;
    a BD-rate failure raises, since that is the number asked for.
    """
    rate = bd_rate(anchor.bpp, anchor.psnr, test.bpp, test.psnr, method=method)
    record: dict[str, Any] = {
        "test": test.name,
        "anchor": anchor.name,
        "method": method,
        "bd_rate_percent": rate,
        "bd_psnr_db": None,
        "psnr_range_db": [
            float(max(anchor.psnr.min(), test.psnr.min())),
            float(min(anchor.psnr.max(), test.psnr.max())),
        ],
        "test_aggregation": test.aggregation,
        "anchor_aggregation": anchor.aggregation,
    }
    try:
        record["bd_psnr_db"] = bd_psnr(anchor.bpp, anchor.psnr, test.bpp, test.psnr, method=method)
    except CurveError as e:
        record["bd_psnr_error"] = str(e)
    return record
