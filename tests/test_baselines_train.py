"""Training of the baselines: the loss goes down, checkpoints resume exactly, the CLI."""

import json
import os

import jax
import numpy as np
import pytest

from baselines.cli import main as cli_main
from baselines.train import load_trained, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KODAK = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "kodak"))

needs_kodak = pytest.mark.skipif(
    not os.path.isfile(os.path.join(KODAK, "kodim23.png")), reason=f"Kodak not found at {KODAK} (../shared missing)"
)

# Tiny hyperprior (both optimizers: main net + bottleneck quantiles), 64x64 crops.
MODEL = "bmshj2018-hyperprior"
KW = dict(lmbda=0.01, crop=64, batch=4, lr=1e-3, N=8, M=8, steps_per_call=10, progress=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two 128x128 Kodak crops and a 48x48 one (smaller than the crop: edge-padded)."""
    from coolchic.io.image import read_image, write_image

    d = tmp_path_factory.mktemp("data")
    for k, (name, size) in enumerate([("kodim01", 128), ("kodim23", 128), ("kodim05", 48)]):
        x = read_image(os.path.join(KODAK, f"{name}.png")).pixels
        write_image(str(d / f"img{k}.png"), x[100 : 100 + size, 200 : 200 + size], 8)
    return str(d)


@pytest.fixture(scope="module")
def runs(data_dir, tmp_path_factory):
    """A 30-step run resumed to 40 steps, and an uninterrupted 40-step run."""
    root = tmp_path_factory.mktemp("runs")
    a, b = str(root / "a"), str(root / "b")
    first = train(MODEL, data_dir, steps=30, out=a, save_every=20, **KW)
    resumed = train(MODEL, data_dir, steps=40, out=a, resume=True, save_every=20, **KW)
    straight = train(MODEL, data_dir, steps=40, out=b, save_every=20, **KW)
    return {"a": a, "b": b, "first": first, "resumed": resumed, "straight": straight}


@needs_kodak
def test_short_training_lowers_the_loss(runs):
    h = np.array(runs["straight"]["history"])  # (step, loss, bpp, mse, aux)
    np.testing.assert_array_equal(h[:, 0], np.arange(1, 41))
    assert np.all(np.isfinite(h))
    first, last = h[:5, 1].mean(), h[-5:, 1].mean()
    assert last < 0.5 * first, (first, last)
    assert h[-5:, 3].mean() < h[:5, 3].mean()  # distortion improves
    assert h[-1, 4] < h[0, 4]  # the aux (quantile) loss decreases too


@needs_kodak
def test_resume_continues_from_saved_step(runs):
    assert runs["first"]["step"] == 30 and runs["resumed"]["start_step"] == 30
    assert runs["resumed"]["step"] == 40
    assert [s for s, *_ in runs["resumed"]["history"]] == list(range(31, 41))
    steps = sorted(int(s) for s in os.listdir(os.path.join(runs["a"], "ckpt")))
    assert steps == [20, 30, 40]
    # Same crops (seeded by step) and checkpointed rng: resuming equals not stopping.
    np.testing.assert_allclose(
        np.array(runs["resumed"]["history"])[:, 1:], np.array(runs["straight"]["history"])[30:, 1:], rtol=1e-5
    )
    _, _, va, cfg = load_trained(runs["a"])
    _, _, vb, _ = load_trained(runs["b"])
    assert cfg["model"] == MODEL and cfg["kwargs"] == {"N": 8, "M": 8}
    for x, y in zip(jax.tree.leaves(va), jax.tree.leaves(vb)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    # Already at the target: nothing to do.
    again = train(MODEL, "unused-folder", steps=40, out=runs["b"], resume=True, **KW)
    assert again["start_step"] == again["step"] == 40 and again["history"] == []


@needs_kodak
def test_refusals(runs, data_dir, tmp_path):
    with pytest.raises(ValueError, match="for model bmshj2018-hyperprior, not mbt2018-mean"):
        train("mbt2018-mean", data_dir, steps=50, out=runs["a"], resume=True, **{**KW, "N": None, "M": None})
    with pytest.raises(ValueError, match="not N=16"):
        train(MODEL, data_dir, steps=50, out=runs["a"], resume=True, **{**KW, "N": 16})
    with pytest.raises(ValueError, match="already holds a training checkpoint"):
        train(MODEL, data_dir, steps=50, out=runs["a"], **KW)
    # A run that cannot start leaves nothing behind.
    empty, fresh = tmp_path / "empty", tmp_path / "fresh"
    empty.mkdir()
    with pytest.raises(ValueError, match="no PNG"):
        train(MODEL, str(empty), steps=5, out=str(fresh), **KW)
    assert not fresh.exists()
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(MODEL, data_dir, steps=5, out=str(fresh), resume=True, **KW)
    with pytest.raises(KeyError, match="unknown model"):
        train("nope", data_dir, steps=5, out=str(fresh), **KW)


@needs_kodak
def test_cli_train_then_code_with_checkpoint(runs, data_dir, tmp_path, capsys):
    out = runs["a"]
    # Resume through the CLI (N/M come from the checkpoint), then refuse another model.
    argv = [
        "train",
        "--model",
        MODEL,
        "--data",
        data_dir,
        "--lmbda",
        "0.01",
        "--steps",
        "45",
        "--out",
        out,
        "--crop",
        "64",
        "--batch",
        "4",
        "--lr",
        "1e-3",
        "--resume",
        "--no-progress",
        "--save-every",
        "20",
    ]
    assert cli_main(argv) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["start_step"] == 40 and rep["step"] == 45 and np.isfinite(rep["loss"])
    bad = list(argv)
    bad[bad.index(MODEL)] = "mbt2018"
    assert cli_main(bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1 and "not mbt2018" in err
    # Code an image with the trained weights.
    src = os.path.join(data_dir, "img0.png")
    bin_, png = str(tmp_path / "x.bin"), str(tmp_path / "x.png")
    assert cli_main(["compress", "--ckpt", out, "--model", MODEL, src, "-o", bin_]) == 0
    enc = json.loads(capsys.readouterr().out)
    assert cli_main(["decompress", bin_, "-o", png, "--ckpt", out]) == 0
    capsys.readouterr()
    from coolchic.evaluation.metrics import psnr
    from coolchic.io.image import read_image

    assert psnr(read_image(src).pixels, read_image(png).pixels) == pytest.approx(enc["psnr"])
    # Weights of another run (same architecture) are refused by the fingerprint.
    assert cli_main(["decompress", bin_, "-o", str(tmp_path / "y.png"), "--ckpt", runs["b"]]) == 2
    assert "other weights" in capsys.readouterr().err
