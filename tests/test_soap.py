"""SOAP: the optax transformation against a float64 transcription of the paper's update."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from coolchic.fitting.soap import preconditioned_axes, project, project_back, scale_by_soap


def _eig_desc(m):
    w, v = np.linalg.eigh(m)
    return v[:, ::-1]


class MatrixSoap:
    """SOAP for one matrix as the paper writes it (Vyas et al. 2024, Algorithm 3), in float64:
    L, R Shampoo statistics, Adam on Q_L^T G Q_R, Q refreshed by power iteration + QR."""

    def __init__(self, shape, b1, b2, eps, freq):
        self.b1, self.b2, self.eps, self.freq = b1, b2, eps, freq
        self.L, self.R = np.zeros((shape[0],) * 2), np.zeros((shape[1],) * 2)
        self.M, self.V = np.zeros(shape), np.zeros(shape)
        self.QL = self.QR = None
        self.t = 0

    def step(self, G):
        b1, b2 = self.b1, self.b2
        if self.QL is None:  # first gradient: statistics and eigenbases only
            self.L, self.R = (1 - b2) * G @ G.T, (1 - b2) * G.T @ G
            self.QL, self.QR = _eig_desc(self.L), _eig_desc(self.R)
            return np.zeros_like(G)
        self.t += 1
        Gp = self.QL.T @ G @ self.QR
        self.M = b1 * self.M + (1 - b1) * Gp
        self.V = b2 * self.V + (1 - b2) * Gp**2
        N = self.QL @ (self.M / (np.sqrt(self.V) + self.eps)) @ self.QR.T
        N *= np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        M = self.QL @ self.M @ self.QR.T
        self.L = b2 * self.L + (1 - b2) * G @ G.T
        self.R = b2 * self.R + (1 - b2) * G.T @ G
        if self.t % self.freq == 0:
            order = np.argsort(-np.diag(self.QL.T @ self.L @ self.QL))
            self.V, self.QL = self.V[order, :], np.linalg.qr(self.L @ self.QL[:, order])[0]
            order = np.argsort(-np.diag(self.QR.T @ self.R @ self.QR))
            self.V, self.QR = self.V[:, order], np.linalg.qr(self.R @ self.QR[:, order])[0]
        self.M = self.QL.T @ M @ self.QR
        return N


def _run(tx, grads):
    state = tx.init(grads[0])
    update = jax.jit(tx.update)
    out = []
    for g in grads:
        d, state = update(g, state)
        out.append(d)
    return out


@pytest.mark.parametrize("freq", [1, 3, 10])
def test_soap_matches_paper_update_on_a_matrix(freq):
    rng = np.random.default_rng(0)
    # Square, so that one gradient's statistics are full rank: a rank-deficient one has a null
    # space whose eigenbasis is arbitrary (any basis is right, but two codes pick different ones).
    shape = (5, 5)
    # Gradients with a fixed, anisotropic structure plus noise, so the eigenbasis matters.
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    grads = [a @ rng.normal(size=shape) @ b for _ in range(25)]
    ref = MatrixSoap(shape, 0.95, 0.95, 1e-8, freq)
    expected = [ref.step(g) for g in grads]
    with jax.enable_x64(True):  # float64 on both sides: the comparison is of the algorithm, not of rounding
        got = _run(scale_by_soap(precondition_frequency=freq), [{"w": jnp.asarray(g, jnp.float64)} for g in grads])
    assert np.all(np.asarray(got[0]["w"]) == 0)
    for e, g in zip(expected[1:], got[1:]):
        np.testing.assert_allclose(np.asarray(g["w"]), e, rtol=1e-7, atol=1e-9)


def test_soap_without_preconditioner_is_adam_after_a_skipped_step():
    rng = np.random.default_rng(1)
    leaf = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
    grads = [{"x": leaf(5, 7), "b": leaf(3)} for _ in range(12)]
    # eps ~ 0: SOAP adds eps to sqrt(v) before the bias correction (as torch's Adam), optax after.
    got = _run(scale_by_soap(b1=0.9, b2=0.999, eps=1e-20, max_precond_dim=0), grads)
    adam = _run(optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-20), grads[1:])
    assert all(np.all(np.asarray(v) == 0) for v in jax.tree.leaves(got[0]))
    for g, a in zip(got[1:], adam):
        for k in ("x", "b"):
            np.testing.assert_allclose(np.asarray(g[k]), np.asarray(a[k]), rtol=1e-5, atol=1e-7)


def test_projection_of_a_conv_kernel_is_the_product_over_every_axis():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 3, 3))
    qs = tuple(np.linalg.qr(rng.normal(size=(d, d)))[0] for d in x.shape)
    axes = preconditioned_axes(x.shape, 256, False)
    assert axes == (0, 1, 2, 3)
    want = np.einsum("abcd,ai,bj,ck,dl->ijkl", x, *qs)
    got = np.asarray(project(jnp.asarray(x), tuple(map(jnp.asarray, qs)), axes))
    np.testing.assert_allclose(got, want, atol=1e-5)
    back = np.asarray(project_back(jnp.asarray(got), tuple(map(jnp.asarray, qs)), axes))
    np.testing.assert_allclose(back, x, atol=1e-5)


def test_which_axes_are_preconditioned():
    assert preconditioned_axes((), 256, True) == ()
    assert preconditioned_axes((18,), 256, False) == ()
    assert preconditioned_axes((18,), 256, True) == (0,)
    assert preconditioned_axes((300, 18), 256, False) == (1,)
    assert preconditioned_axes((18, 7), 0, False) == ()


def test_soap_under_vmap_equals_each_candidate_alone():
    rng = np.random.default_rng(3)
    grads = [jnp.asarray(rng.normal(size=(2, 4, 4)), jnp.float32) for _ in range(14)]
    tx = scale_by_soap(precondition_frequency=4)
    batched = jax.vmap(tx.init)(grads[0])
    update = jax.jit(jax.vmap(tx.update))
    out = []
    for g in grads:
        d, batched = update(g, batched)
        out.append(d)
    for c in range(2):
        alone = _run(tx, [g[c] for g in grads])
        for a, b in zip(alone, out):
            np.testing.assert_allclose(np.asarray(b[c]), np.asarray(a), rtol=1e-4, atol=1e-6)


def test_soap_with_weight_decay_minimises_a_badly_conditioned_quadratic():
    rng = np.random.default_rng(4)
    a = jnp.asarray(np.diag(np.logspace(0, 2, 8)) @ np.linalg.qr(rng.normal(size=(8, 8)))[0], jnp.float32)
    target = jnp.asarray(rng.normal(size=(8, 6)), jnp.float32)
    loss = lambda w: jnp.sum((a @ w - target) ** 2)
    tx = optax.chain(scale_by_soap(b1=0.9, b2=0.99), optax.add_decayed_weights(1e-4), optax.scale(-1e-2))
    w = jnp.zeros((8, 6))
    state = tx.init(w)

    @jax.jit
    def step(w, state):
        u, state = tx.update(jax.grad(loss)(w), state, w)
        return optax.apply_updates(w, u), state

    for _ in range(1500):
        w, state = step(w, state)
    assert float(loss(w)) < 1e-3 * float(loss(jnp.zeros((8, 6))))


def test_a_fit_with_cool_chic_5s_optimizer_lowers_the_rd_cost_with_one_compile(kodak_crop):
    """Soap in a two-stage recipe (the state carried over): one compile, finite, better than init."""
    from c3 import SoftRoundNoise, SoftRoundSTE
    from coolchic.config import ModelConfig, causal_context
    from coolchic.fitting.candidates import fit
    from coolchic.fitting.optimizers import Soap
    from coolchic.fitting.recipes import Recipe, Stage, constant_lr, cosine_lr
    from coolchic.fitting.result import evaluate
    from coolchic.model.image import init_params

    config = ModelConfig(n_grids=4, context=causal_context(5), arm_hidden=(8, 8), synth_hidden=(8,))
    crop = kodak_crop(1, 32, 32)
    recipe = Recipe(
        "soap-test",
        (
            Stage("noise", 50, SoftRoundNoise(), cosine_lr(1e-2), Soap()),
            Stage("ste", 10, SoftRoundSTE(), constant_lr(1e-4), Soap(), keep_best=True, carry_opt_state=True),
        ),
    )
    lmbda = 1e-3
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("jax").addHandler(handler)
    try:
        with jax.log_compiles(True):
            r = fit(crop, config, recipe, lmbda, seed=0, progress=False, chunk=20)
    finally:
        logging.getLogger("jax").removeHandler(handler)
    # Four chunks (20, 20, 10 | 10 steps) and the final evaluation: the chunk compiled once.
    assert len(r.history) == 4
    n_run = sum("Compiling jit(run)" in x.getMessage() for x in records)
    assert 1 <= n_run <= 2
    losses = [h[1] for h in r.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    k_init, _ = jax.random.split(jax.random.PRNGKey(0))
    rd = lambda e: e["mse"] + lmbda * e["bpp_latents"]
    assert rd(evaluate(r.params, config, crop)) < rd(evaluate(init_params(k_init, config, 32, 32), config, crop))
