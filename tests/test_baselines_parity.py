"""Parity of the Flax baselines with CompressAI 1.2.8 fixtures, import and CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from baselines import MODELS, from_compressai
from baselines.cli import main as cli_main
from baselines.compressai_import import compressai_cdf_tables, to_compressai
from baselines.entropy_models import GaussianConditional, get_scale_table
from baselines.parity import parity_report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "..", "shared", "fixtures", "compressai")
NAMES = list(MODELS)
TOL = 1e-4

needs_fixtures = pytest.mark.skipif(
    not os.path.isfile(os.path.join(FIXTURES, "index.json")),
    reason=f"CompressAI fixtures not found at {os.path.normpath(FIXTURES)} (../shared missing)",
)


def fixture_path(name):
    return os.path.join(FIXTURES, f"{name}.npz")


@pytest.fixture(scope="module")
def reports():
    """Run every fixture once (one jit per model) and keep outputs for the tests."""
    out = {}
    for name in NAMES:
        cache = {}
        rep = parity_report(fixture_path(name), _cache=cache)
        out[name] = (rep, cache)
    return out


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_parity_with_fixture(reports, name):
    rep, _ = reports[name]
    for k in ("y", "x_hat"):
        assert rep["max_abs"][k] <= TOL, (k, rep)
    assert rep["max_rel_likelihood"]["y"] <= TOL, rep
    if name != "bmshj2018-factorized":
        assert rep["max_abs"]["z"] <= TOL, rep
        assert rep["max_rel_likelihood"]["z"] <= TOL, rep
    assert rep["pass"]


@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_bottleneck_tables_match_compressai_update(reports, name):
    """Our ``update()`` port gives CompressAI's CDF layout; frequencies agree to +-2/2^16.

    CompressAI builds the pmf in float32 PyTorch, we in float64 numpy: a pmf
    value landing on the other side of a rounding boundary shifts the
    normalisation: every symbol frequency stays within 2 while the last entry
    (the overflow/tail symbol, where ``cdf[-1] = 2^16`` puts the remainder)
    absorbs the drift.
    """
    _, cache = reports[name]
    model, variables = cache["model"], cache["variables"]
    ours = model.apply(variables, method=lambda m: m.entropy_bottleneck.quantized_cdfs())
    ref = compressai_cdf_tables({k[3:]: v for k, v in cache["arrays"].items() if k.startswith("sd/")})
    ref = ref["entropy_bottleneck"]
    np.testing.assert_array_equal(ours["cdf_length"], ref["cdf_length"])
    np.testing.assert_array_equal(ours["offset"], ref["offset"])
    assert ours["quantized_cdf"].shape == ref["quantized_cdf"].shape
    for c in range(len(ours["cdf_length"])):
        n = ours["cdf_length"][c]
        a, b = ours["quantized_cdf"][c, :n].astype(int), ref["quantized_cdf"][c, :n].astype(int)
        assert a[0] == 0 and a[-1] == 1 << 16 and np.all(np.diff(a) > 0)
        assert np.abs(np.diff(a) - np.diff(b))[:-1].max() <= 2
        assert abs(int(np.diff(a)[-1]) - int(np.diff(b)[-1])) <= 2 * n


@needs_fixtures
def test_gaussian_tables_match_compressai_update():
    with np.load(fixture_path("bmshj2018-hyperprior")) as f:
        sd = {k[3:]: f[k] for k in f.files if k.startswith("sd/gaussian")}
    ref = compressai_cdf_tables(sd)["gaussian_conditional"]
    np.testing.assert_allclose(get_scale_table(), ref["scale_table"], rtol=1e-6)
    ours = GaussianConditional(scale_table=tuple(map(float, ref["scale_table"]))).quantized_cdfs()
    np.testing.assert_array_equal(ours["cdf_length"], ref["cdf_length"])
    np.testing.assert_array_equal(ours["offset"], ref["offset"])
    for i, n in enumerate(ours["cdf_length"]):
        a, b = ours["quantized_cdf"][i, :n].astype(int), ref["quantized_cdf"][i, :n].astype(int)
        assert np.abs(np.diff(a) - np.diff(b))[:-1].max() <= 2
        assert abs(int(np.diff(a)[-1]) - int(np.diff(b)[-1])) <= 2 * n


@needs_fixtures
def test_import_roundtrip_and_errors():
    with np.load(fixture_path("mbt2018")) as f:
        sd = {k[3:]: f[k] for k in f.files if k.startswith("sd/")}
    _, variables = from_compressai("mbt2018", sd)  # N, M inferred from shapes
    back = to_compressai(variables)
    for k, v in back.items():
        np.testing.assert_array_equal(v, sd[k])
    # Old CompressAI spellings are accepted.
    old = {("entropy_bottleneck._matrix" + k[-1] if ".matrices." in k else k): v for k, v in sd.items()}
    from_compressai("mbt2018", old, N=32, M=48)
    with pytest.raises(KeyError, match="unknown model"):
        from_compressai("nope", sd)
    broken = dict(sd)
    del broken["g_a.0.weight"]
    with pytest.raises(ValueError, match="missing: g_a.0.weight"):
        from_compressai("mbt2018", broken, N=32, M=48)
    with pytest.raises(ValueError, match="shape mismatch"):
        from_compressai("mbt2018", sd, N=32, M=64)
    bad_mask = dict(sd)
    bad_mask["context_prediction.mask"] = np.ones_like(sd["context_prediction.mask"])
    with pytest.raises(ValueError, match="type-A"):
        from_compressai("mbt2018", bad_mask, N=32, M=48)


def test_checkpoint_path_needs_torch(tmp_path):
    try:
        import torch  # noqa: F401
    except ImportError:
        p = tmp_path / "m.pth.tar"
        p.write_bytes(b"")
        with pytest.raises(ImportError, match="PyTorch"):
            from_compressai("mbt2018", str(p))
    else:
        pytest.skip("torch is installed; the no-torch error path is not reachable")


@needs_fixtures
def test_parity_cli_in_process(capsys):
    assert cli_main(["parity", fixture_path("bmshj2018-factorized")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["pass"] and rep["max_abs"]["z"] is None
    assert cli_main(["parity", fixture_path("bmshj2018-factorized"), "--tol", "1e-12"]) == 1
    capsys.readouterr()
    assert cli_main(["parity", os.path.join(FIXTURES, "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


def _run(*args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "baselines", *args], cwd=REPO, env=env, capture_output=True, text=True)


@needs_fixtures
def test_parity_cli_subprocess_exit_codes(tmp_path):
    ok = _run("parity", fixture_path("bmshj2018-hyperprior"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["pass"] is True
    missing = _run("parity", str(tmp_path / "mbt2018.npz"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and missing.stderr.strip().count("\n") == 0
    unknown = tmp_path / "not-a-model.npz"
    unknown.write_bytes(b"x")
    r = _run("parity", str(unknown))
    assert r.returncode == 2 and "unknown model" in r.stderr and "Traceback" not in r.stderr
