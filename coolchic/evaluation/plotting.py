"""Rate-distortion and complexity plots, written atomically as PNG.

Uses matplotlib's Agg canvas directly (no pyplot): no display is needed and the
process-wide backend that notebooks or other code may rely on is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from coolchic.evaluation.anchors import Curve
from coolchic.io.files import atomic_write


def _new_figure(size=(7.0, 5.0)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure_atomic(fig, out_png: str) -> str:
    """Write ``fig`` to ``out_png`` atomically (coolchic.io.files.atomic_write), creating its folder:
    a reader never sees a half-written PNG and a failed save leaves any previous file untouched."""
    out_png = os.fspath(out_png)
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)

    def save(tmp):
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png")

    atomic_write(out_png, save)
    return out_png


def plot_rd(
    curves: Sequence[Curve],
    out_png: str,
    title: str | None = None,
    anchors: Sequence[Curve] = (),
) -> str:
    """Plot bpp vs PSNR: ``curves`` as solid lines with markers, ``anchors`` dashed.

    The plot is clipped to the bpp range of ``curves`` (plus a margin) when there are
    any, so that long anchor curves do not squash the curves under study.
    """
    if not curves and not anchors:
        raise ValueError("plot_rd: nothing to plot")
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for c in anchors:
        ax.plot(c.bpp, c.psnr, linestyle="--", marker=".", linewidth=1.2, alpha=0.85, label=c.name)
    for c in curves:
        ax.plot(c.bpp, c.psnr, linestyle="-", marker="o", markersize=4, linewidth=1.8, label=c.name)
    if curves and anchors:
        lo = min(float(c.bpp.min()) for c in curves)
        hi = max(float(c.bpp.max()) for c in curves)
        span = max(hi - lo, 1e-3)
        xlo, xhi = max(0.0, lo - 0.1 * span), hi + 0.1 * span
        ax.set_xlim(xlo, xhi)
        visible = [p for c in (*curves, *anchors) for b, p in zip(c.bpp, c.psnr) if xlo <= b <= xhi]
        if visible:
            ax.set_ylim(min(visible) - 0.5, max(visible) + 0.5)
    ax.set_xlabel("rate (bits per pixel)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    if title:
        ax.set_title(title)
    return save_figure_atomic(fig, out_png)


def _point(p) -> tuple[str, float, float]:
    if isinstance(p, Mapping):
        label = p.get("method", p.get("label"))
        macs = p.get("macs_per_pixel", p.get("macspp"))
        bd = p.get("bd_rate", p.get("bdrate"))
        return str(label), float(macs), float(bd)
    label, macs, bd = p
    return str(label), float(macs), float(bd)


def plot_complexity(
    points: Iterable,
    out_png: str,
    title: str | None = None,
    highlight: Iterable[str] = (),
) -> str:
    """Plot decoder MACs/pixel (log x) against BD-rate % (lower is better), one labelled dot each.

    ``points`` are ``(label, macs_per_pixel, bd_rate)`` tuples or dicts as returned by
    :func:`coolchic.evaluation.anchors.read_macs_csv`; labels in ``highlight`` are drawn in red.
    """
    pts = [_point(p) for p in points]
    if not pts:
        raise ValueError("plot_complexity: no points")
    if any(m <= 0 for _, m, _ in pts):
        raise ValueError("plot_complexity: MACs per pixel must be positive (log axis)")
    marked = set(highlight)
    fig = _new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, macs, bd in pts:
        colour = "tab:red" if label in marked else "tab:blue"
        ax.scatter([macs], [bd], color=colour, zorder=3)
        ax.annotate(label, (macs, bd), textcoords="offset points", xytext=(5, 4), fontsize="small")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("decoder MACs per pixel")
    ax.set_ylabel("BD-rate (%)")
    ax.grid(True, which="both", alpha=0.3)
    if title:
        ax.set_title(title)
    return save_figure_atomic(fig, out_png)
