"""Entropy models of the baselines vs direct scipy evaluations; GMM head; MACs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import norm

from baselines.entropy_models import (
    EntropyBottleneck,
    GaussianConditional,
    GaussianMixtureConditional,
    pmf_to_quantized_cdf,
)
from baselines.macs import macs_table
from baselines.models import MODELS


def _gmm_reference(y, params, K, scale_bound=0.11, lik_bound=1e-9):
    M = y.shape[-1]
    w, mu, s = np.split(params.astype(np.float64), 3, axis=-1)
    shp = y.shape[:-1] + (K, M)
    w = softmax(w.reshape(shp), axis=-2)
    mu, s = mu.reshape(shp), np.maximum(s.reshape(shp), scale_bound)
    yy = y.astype(np.float64)[..., None, :]
    p = norm.cdf((yy + 0.5 - mu) / s) - norm.cdf((yy - 0.5 - mu) / s)
    return np.maximum((w * p).sum(-2), lik_bound)


def test_gmm_likelihood_matches_scipy():
    rng = np.random.default_rng(0)
    K, M = 3, 5
    y = np.round(rng.normal(scale=4, size=(2, 4, 4, M))).astype(np.float32)
    params = np.concatenate(
        [
            rng.normal(size=(2, 4, 4, K * M)),  # weight logits
            rng.normal(scale=3, size=(2, 4, 4, K * M)),  # means
            rng.uniform(0.01, 5, size=(2, 4, 4, K * M)),  # scales, some below 0.11
        ],
        -1,
    ).astype(np.float32)
    params[0, 0, 0, 2 * K * M :] = 0.01  # all scales under the bound
    y[1, 0, 0] = 1e3  # far tail: likelihood floored at 1e-9
    gmm = GaussianMixtureConditional(K)
    y_hat, lik = gmm(jnp.asarray(y), jnp.asarray(params))
    ref = _gmm_reference(y, params, K)
    np.testing.assert_array_equal(np.asarray(y_hat), y)
    np.testing.assert_allclose(np.asarray(lik), ref, rtol=1e-4, atol=1e-7)
    assert np.all(np.asarray(lik)[1, 0, 0] == np.float32(1e-9))
    # Weights are a softmax over the K components.
    w, _, _ = gmm.split_params(jnp.asarray(params))
    np.testing.assert_allclose(np.asarray(w).sum(-2), 1.0, rtol=1e-6)


def test_gaussian_conditional_matches_scipy():
    rng = np.random.default_rng(1)
    y = rng.normal(scale=3, size=(1, 6, 6, 4)).astype(np.float32)
    means = rng.normal(size=y.shape).astype(np.float32)
    scales = rng.uniform(0.0, 6, size=y.shape).astype(np.float32)
    gc = GaussianConditional()
    y_hat, lik = gc(jnp.asarray(y), jnp.asarray(scales), jnp.asarray(means))
    ref_hat = np.round(y - means) + means
    np.testing.assert_allclose(np.asarray(y_hat), ref_hat, atol=1e-6)
    s = np.maximum(scales, 0.11).astype(np.float64)
    v = ref_hat.astype(np.float64) - means
    ref = np.maximum(norm.cdf((v + 0.5) / s) - norm.cdf((v - 0.5) / s), 1e-9)
    np.testing.assert_allclose(np.asarray(lik), ref, rtol=1e-4, atol=1e-7)
    # Indexes: smallest table scale >= the bounded scale.
    idx = np.asarray(gc.build_indexes(jnp.asarray(scales)))
    table = np.asarray(gc.scale_table, np.float32)
    ref_idx = np.array(
        [np.argmax(table >= max(sc, 0.11)) if max(sc, 0.11) <= table[-1] else 63 for sc in scales.ravel()]
    )
    np.testing.assert_array_equal(idx.ravel(), ref_idx)


def test_entropy_bottleneck_likelihood_and_aux_loss():
    C = 3
    eb = EntropyBottleneck(C)
    x = jax.random.normal(jax.random.key(0), (1, 4, 4, C)) * 3
    v = jax.jit(eb.init)(jax.random.key(1), x)
    x_hat, lik = jax.jit(eb.apply)(v, x)
    med = np.asarray(v["params"]["quantiles"])[:, 0, 1]
    np.testing.assert_allclose(np.asarray(x_hat), np.round(np.asarray(x) - med) + med)
    # The density integrates to ~1 over integers (pmf of a proper CDF).
    grid = jnp.arange(-400.0, 401.0)[:, None, None, None] * jnp.ones((1, 1, 1, C))
    total = jax.jit(lambda v, g: eb.apply(v, g, method=EntropyBottleneck.likelihood))(v, grid).sum(0)
    np.testing.assert_allclose(np.asarray(total).ravel(), 1.0, atol=1e-4)
    assert np.all(np.asarray(lik) > 0) and np.all(np.asarray(lik) <= 1)
    # The aux loss trains only the quantiles.
    g = jax.jit(jax.grad(lambda p: eb.apply({"params": p}, method=EntropyBottleneck.aux_loss)))(v["params"])
    assert float(jnp.abs(g["quantiles"]).sum()) > 0
    assert all(float(jnp.abs(a).sum()) == 0 for k, a in g.items() if k != "quantiles")
    t = eb.apply(v, method=EntropyBottleneck.quantized_cdfs)
    assert t["quantized_cdf"].shape[0] == C and np.all(t["offset"] <= 0)


def test_pmf_to_quantized_cdf_properties():
    cdf = pmf_to_quantized_cdf([0.5, 0.25, 0.0, 0.25 - 1e-9, 1e-9])
    assert cdf[0] == 0 and cdf[-1] == 1 << 16 and np.all(np.diff(cdf) >= 1)
    np.testing.assert_array_equal(pmf_to_quantized_cdf([0.25, 0.75], 4), [0, 4, 16])


def _random_variables(model, x, seed=0):
    """Random weights from the init shapes (``model.init`` itself compiles slowly on CPU)."""
    from flax import traverse_util

    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    rng = np.random.default_rng(seed)
    flat = {}
    for path, s in traverse_util.flatten_dict(shapes["params"]).items():
        if path[-1] in ("beta", "gamma"):
            val = np.sqrt(1.0 * np.eye(s.shape[0]) + 0.01) if path[-1] == "gamma" else np.ones(s.shape)
        elif path[-1] == "quantiles":
            val = np.tile([-10.0, 0.0, 10.0], (s.shape[0], 1, 1))
        else:
            fan_in = int(np.prod(s.shape[1:])) if len(s.shape) > 1 else 16
            val = rng.uniform(-1, 1, s.shape) / np.sqrt(fan_in)
        flat[path] = jnp.asarray(val, jnp.float32)
    return {"params": traverse_util.unflatten_dict(flat)}


@pytest.fixture(scope="module")
def tiny_models():
    x = jax.random.uniform(jax.random.key(3), (1, 64, 64, 3))
    out = {}
    for name, head in [("mbt2018", "gmm"), ("cheng2020-anchor", "gmm")]:
        kw = {"N": 8, "M": 12} if name == "mbt2018" else {"N": 12}
        model = MODELS[name](head=head, **kw)
        out[name] = (model, _random_variables(model, x), x)
    return out


@pytest.mark.parametrize("name", ["mbt2018", "cheng2020-anchor"])
def test_gmm_head_forward(tiny_models, name):
    model, v, x = tiny_models[name]
    M = 12
    assert v["params"]["entropy_parameters"]["4"]["weight"].shape[0] == 9 * M
    fwd = jax.jit(
        lambda v, x, training, key: model.apply(v, x, training=training, rngs={"noise": key}), static_argnums=2
    )
    out = fwd(v, x, False, jax.random.key(0))
    y_hat, lik = out["y_hat"], out["likelihoods"]["y"]
    np.testing.assert_array_equal(y_hat, jnp.round(out["y"]))
    ref = _gmm_reference(np.asarray(y_hat), np.asarray(out["entropy_params"]), 3)
    np.testing.assert_allclose(np.asarray(lik), ref, rtol=1e-4, atol=1e-7)
    assert out["x_hat"].shape == x.shape
    if name != "mbt2018":
        return
    # Training mode: noisy latents, needs the "noise" rng.
    tr = fwd(v, x, True, jax.random.key(5))
    d = np.asarray(tr["y_hat"] - tr["y"])
    assert np.all(np.abs(d) <= 0.5) and np.abs(d).max() > 0


def test_macs_table_known_values():
    t = macs_table("bmshj2018-factorized")
    # conv 5x5 3->128 /4 + 128->128 /16 + /64 + 128->192 /256 + 3 GDN(128)
    ga = 25 * 3 * 128 / 4 + 25 * 128 * 128 / 16 + 25 * 128 * 128 / 64 + 25 * 128 * 192 / 256
    ga += 128 * 128 * (1 / 4 + 1 / 16 + 1 / 64)
    assert t["macs_per_pixel"]["g_a"] == pytest.approx(ga)
    assert t["macs_per_pixel"]["g_s"] == pytest.approx(ga)  # transposed convs per input position
    t = macs_table("mbt2018", quality=5)
    assert t["kwargs"] == {"N": 192, "M": 320}
    assert t["macs_per_pixel"]["context_prediction"] == pytest.approx(25 * 320 * 640 / 256)
    assert set(t["macs_per_pixel"]) == {"g_a", "h_a", "h_s", "g_s", "context_prediction", "entropy_parameters"}
