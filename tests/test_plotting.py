"""RD and complexity plots (atomic PNG writes) and the `plot` subcommand."""

import argparse
import os

import numpy as np
import pytest

from coolchic.cli.curves import add_parsers, main
from coolchic.evaluation.anchors import Curve, CurveError, read_macs_csv
from coolchic.evaluation.plotting import plot_complexity, plot_rd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.path.join(REPO, "..", "shared", "anchors")
needs_anchors = pytest.mark.skipif(
    not os.path.isdir(ANCHORS), reason=f"published anchors not found at {os.path.normpath(ANCHORS)} (../shared)"
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

PSNR = np.array([28.0, 30.5, 33.0, 35.5, 38.0, 40.5])
RATE = np.exp(-6.0 + 0.16 * PSNR)


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def _no_temp_left(folder):
    return [n for n in os.listdir(folder) if n.endswith(".tmp") or n.startswith(".tmp-")] == []


def test_plot_rd(tmp_path):
    mine = Curve("mine", RATE * 0.9, PSNR)
    anchor = Curve("anchor", RATE, PSNR)
    out = plot_rd([mine], tmp_path / "sub" / "rd.png", title="test", anchors=[anchor])
    assert _is_png(out) and os.path.getsize(out) > 5000
    assert _no_temp_left(tmp_path / "sub")
    # Only anchors, or only curves, also work; nothing at all does not.
    assert _is_png(plot_rd([], tmp_path / "a.png", anchors=[anchor]))
    assert _is_png(plot_rd([mine], tmp_path / "b.png"))
    with pytest.raises(ValueError):
        plot_rd([], tmp_path / "c.png")


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "rd.png"
    out.write_bytes(b"previous")

    def boom(fig, f, **kw):
        f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_rd([Curve("x", RATE, PSNR)], out)
    assert out.read_bytes() == b"previous"
    assert _no_temp_left(tmp_path)


def test_plot_complexity(tmp_path):
    pts = [("A", 1000, 5.0), {"method": "B", "macs_per_pixel": 3e5, "bd_rate": -3.0}, ("C", 50, 30.0)]
    out = plot_complexity(pts, tmp_path / "cx.png", title="complexity", highlight=["A"])
    assert _is_png(out) and _no_temp_left(tmp_path)
    with pytest.raises(ValueError):
        plot_complexity([], tmp_path / "none.png")
    with pytest.raises(ValueError, match="positive"):
        plot_complexity([("Z", 0, 1.0)], tmp_path / "zero.png")


@needs_anchors
def test_plot_complexity_c3_table(tmp_path):
    rows = read_macs_csv(os.path.join(ANCHORS, "c3", "macs_kodak.csv"))
    assert _is_png(plot_complexity(rows, tmp_path / "kodak_macs.png", highlight=["C3"]))


def _write_csv(path, rate, psnr):
    with open(path, "w") as f:
        f.write("bpp,psnr\n" + "".join(f"{r},{p}\n" for r, p in zip(rate, psnr)))
    return str(path)


def test_cli_plot(tmp_path, capsys):
    a = _write_csv(tmp_path / "a.csv", RATE, PSNR)
    b = _write_csv(tmp_path / "b.csv", 0.9 * RATE, PSNR)
    far = _write_csv(tmp_path / "far.csv", RATE, PSNR + 30)
    out = tmp_path / "rd.png"
    assert main(["plot", b, "--anchor", a, "--anchor", far, "-o", str(out), "--title", "t"]) == 0
    assert _is_png(out)
    text = capsys.readouterr().out
    assert "-10.00 %" in text and "n/a" in text and "wrote" in text
    # Missing inputs: non-zero exit, one-line message, no output file.
    out2 = tmp_path / "rd2.png"
    assert main(["plot", str(tmp_path / "missing.json"), "-o", str(out2)]) != 0
    err = capsys.readouterr().err
    assert "no such file" in err and len(err.strip().splitlines()) == 1
    assert not out2.exists()
    assert main(["plot", b, "--anchor", str(tmp_path / "gone.csv"), "-o", str(out2)]) == 1
    assert not out2.exists()
    with pytest.raises(SystemExit):
        main(["plot", b])  # -o is required


def test_add_parsers_for_main_cli(tmp_path, capsys):
    """The main CLI adds the subcommands to its own parser and calls args.func(args)."""
    parser = argparse.ArgumentParser(prog="coolchic")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    a = _write_csv(tmp_path / "a.csv", RATE, PSNR)
    args = parser.parse_args(["bdrate", a, a, "--json"])
    assert args.func(args) == 0
    assert '"bd_rate_percent": 0.0' in capsys.readouterr().out
    args = parser.parse_args(["plot", str(tmp_path / "nope.tsv"), "-o", str(tmp_path / "x.png")])
    with pytest.raises(CurveError, match="no such file"):
        args.func(args)


@needs_anchors
def test_cli_plot_published(tmp_path, capsys):
    out = tmp_path / "kodak.png"
    rc = main(
        [
            "plot",
            os.path.join(ANCHORS, "coolchic", "v5.0-image-kodak.tsv"),
            "--anchor",
            os.path.join(ANCHORS, "compressai", "kodak", "vtm.json"),
            "--anchor",
            os.path.join(ANCHORS, "c3", "rd_kodak_c3.csv"),
            "-o",
            str(out),
        ]
    )
    assert rc == 0 and _is_png(out)
    assert "vs VTM" in capsys.readouterr().out
