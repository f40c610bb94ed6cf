"""The `coolchic` command line: outputs, reports and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from coolchic.cli.main import main
from coolchic.io.image import write_image


def run_cli(*args):
    p = subprocess.run([sys.executable, "-m", "coolchic", *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def test_macs_prints_c3_figures():
    rc, out, _ = run_cli("macs", "--preset", "c3-kodak")
    assert rc == 0 and "1770" in out
    rc, out, _ = run_cli("macs", "--preset", "c3-kodak-24")
    assert rc == 0 and "2626" in out


@pytest.mark.parametrize(
    "args,msg",
    [
        (["fit", "/nonexistent/x.png"], "cannot read"),
        (["fit", "{bad}"], "unsupported image format"),
        (["fit", "{img}", "--lmbda", "-1"], "must be > 0"),
        (["fit", "{img}", "--preset", "nope"], "invalid choice"),
        (["fit", "{img}", "--prune-after", "5"], "more --candidates (1) than it keeps (1)"),
        (["fit", "{img}", "--keep", "2"], "--keep goes with --prune-after"),
        (["fit", "{img}", "--candidates", "2", "--prune-after", "50", "--steps", "50"], "prune after 50 steps"),
    ],
)
def test_fit_errors_are_one_line(tmp_path, args, msg):
    img = tmp_path / "x.png"
    write_image(img, np.full((8, 8, 3), 0.5, np.float32))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    args = [a.format(img=img, bad=bad) for a in args]
    rc, out, err = run_cli(*args)
    assert rc != 0
    assert msg in err and "Traceback" not in err


def test_fit_writes_report_and_reconstruction(tmp_path, kodak_crop, capsys):
    img = tmp_path / "crop.png"
    write_image(img, kodak_crop(2, 32, 32).transpose(1, 2, 0))
    rep, rec = tmp_path / "r.json", tmp_path / "rec.png"
    rc = main(
        [
            "fit",
            str(img),
            "--preset",
            "mac-500",
            "--steps",
            "30",
            "--quiet",
            "--json",
            str(rep),
            "--save-reconstruction",
            str(rec),
        ]
    )
    assert rc == 0
    r = json.loads(rep.read_text())
    for k in ("bpp_estimated", "psnr", "macs_per_pixel", "steps", "fit_seconds"):
        assert k in r
    assert r["steps"] == 30 and r["bpp_estimated"] > r["bpp_latents"] >= 0
    assert rec.exists()
    # Early pruning: 3 seeds, the best one after 10 steps goes on to 30.
    rc = main(
        [
            "fit",
            str(img),
            "--preset",
            "mac-500",
            "--steps",
            "30",
            "--quiet",
            "--json",
            str(rep),
            "--candidates",
            "3",
            "--prune-after",
            "10",
        ]
    )
    cands = json.loads(rep.read_text())["candidates"]
    assert rc == 0 and [c.get("pruned_at") for c in cands].count(10) == 2
    # Refuses to overwrite an existing output without --force.
    rc = main(["fit", str(img), "--preset", "mac-500", "--steps", "1", "--quiet", "--save-reconstruction", str(rec)])
    assert rc == 1 and "exists" in capsys.readouterr().err
