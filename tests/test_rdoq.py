"""RD-optimised rounding of network weights: it never raises the RD cost, and it trades rate for
distortion as lambda says."""

import jax.numpy as jnp
import numpy as np
import pytest

from coolchic.coding import image_codec as codec
from coolchic.coding.rdoq import ideal_bits, rdoq_module
from coolchic.coding.weights import dequantize_module, module_ints


def problem(seed=0):
    """A module whose distortion is a coupled quadratic in its weights (rounding errors interact)."""
    rng = np.random.default_rng(seed)
    tree = {"w": rng.laplace(0, 0.05, (6, 5)).astype(np.float32), "b": rng.normal(0, 0.02, 5).astype(np.float32)}
    a = rng.normal(size=(40, 35)) / 6

    def dist(t):
        x = np.concatenate([np.ravel(t["w"]), np.ravel(t["b"])])
        target = np.concatenate([tree["w"].ravel(), tree["b"].ravel()])
        return float(np.sum((a @ (x - target)) ** 2))

    def batch(ts):
        w, b = np.asarray(ts["w"]), np.asarray(ts["b"])
        return jnp.asarray([dist({"w": w[i], "b": b[i]}) for i in range(w.shape[0])])

    return tree, dist, batch


def rd(ints, kw, kb, dist, lmbda, n):
    """RD cost with the groups' information content (one module's exact size moves by 32-bit words;
    in a file all groups share one stream)."""
    _, groups = module_ints(dequantize_module(ints, kw, kb), kw, kb)
    return dist(dequantize_module(ints, kw, kb)) + lmbda * sum(ideal_bits(g) for g in groups) / n


@pytest.mark.parametrize("lmbda", [1e-4, 1e-2])
def test_rdoq_never_raises_the_rd_cost_and_follows_lambda(lmbda):
    tree, dist, batch = problem()
    kw, kb = 7, 8
    ints, _ = module_ints(tree, kw, kb)
    out = rdoq_module(ints, kw, kb, batch, lmbda, n_pixels=100)
    before, after = rd(ints, kw, kb, dist, lmbda, 100), rd(out, kw, kb, dist, lmbda, 100)
    assert after <= before
    moved = sum(int(np.abs(out[k] - ints[k]).sum()) for k in ints)
    if lmbda > 1e-3:  # rate is dear: weights move, and towards zero overall
        assert after < before and moved > 0
        assert sum(np.abs(out[k]).sum() for k in ints) < sum(np.abs(ints[k]).sum() for k in ints)


def test_rdoq_respects_the_weight_clip():
    tree, dist, batch = problem(1)
    tree["w"][0, 0] = 0.999
    ints, _ = module_ints(tree, 4, 4, clip=1.0)
    out = rdoq_module(ints, 4, 4, lambda ts: -batch(ts), 0.0, 100, clip=1.0)  # every move looks good
    assert np.abs(out["w"]).max() <= 16


def test_rdoq_streams_decode_exactly(kodak_crop):
    from coolchic.fitting import get_recipe
    from coolchic.fitting.candidates import fit
    from coolchic.presets import get_preset

    x = kodak_crop(5, 24, 28)
    c = get_preset("cc5-lop").config
    r = fit(x, c, get_recipe("c3", 120), 2e-3, progress=False)
    plain, rep0 = codec.encode(r.params, c, x, 8, 2e-3)
    data, rep = codec.encode(r.params, c, x, 8, 2e-3, rdoq=True)
    np.testing.assert_array_equal(codec.decode(data)[0], rep["reconstruction"])
    cost = lambda rp: np.mean((rp["reconstruction"] - x) ** 2) + 2e-3 * rp["bpp"]
    assert cost(rep) <= cost(rep0) * 1.001  # exact bits and 8-bit output can differ from the search's view
