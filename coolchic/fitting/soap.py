"""SOAP (Vyas et al., 2024, "SOAP: Improving and Stabilizing Shampoo using Adam") as an optax
transformation: Adam run in the eigenbasis of Shampoo's preconditioner, the basis refreshed every
`precondition_frequency` steps by one power iteration and a QR decomposition.

For a leaf with preconditioned axes i (every axis of length <= max_precond_dim; vectors only if
precondition_1d), per step t:
    G_i <- b_s G_i + (1 - b_s) g_(i) g_(i)^T            (g_(i): g unfolded along axis i)
    g'  =  g x_i Q_i                                     (projection, every preconditioned axis)
    m, v: Adam moments of g' (betas b1, b2);  d = Q_i (m / (sqrt(v) + eps)) * sqrt(1 - b2^t) / (1 - b1^t)
The first call only initialises G and takes Q from its eigendecomposition (no update), as in the
paper's reference code; Cool-chic 5 uses that code, so does this. A leaf with no preconditioned
axis (max_precond_dim = 0: Cool-chic 5's latents) is Adam with that skipped first step.

This is the direction only (like optax.scale_by_adam): chain it with optax.add_decayed_weights
for SOAP's decoupled weight decay and scale by -lr.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class SoapState(NamedTuple):
    count: jnp.ndarray  # calls so far (the first one only initialised the preconditioner)
    mu: list  # per leaf: first moment, in the current eigenbasis
    nu: list  # per leaf: second moment, in the current eigenbasis
    gg: list  # per leaf: tuple of (d, d) preconditioner statistics, one per preconditioned axis
    q: list  # per leaf: tuple of (d, d) eigenbases, matching gg


def preconditioned_axes(shape: tuple, max_precond_dim: int, precondition_1d: bool) -> tuple[int, ...]:
    """The axes of a leaf that get a preconditioner."""
    if len(shape) == 0 or (len(shape) == 1 and not precondition_1d):
        return ()
    return tuple(i for i, d in enumerate(shape) if d <= max_precond_dim)


def _along(x: jnp.ndarray, m: jnp.ndarray, axis: int) -> jnp.ndarray:
    """x with its `axis` multiplied by m: out[..., j, ...] = sum_k x[..., k, ...] m[k, j]."""
    return jnp.moveaxis(jnp.tensordot(x, m, axes=([axis], [0])), -1, axis)


def project(x, qs: tuple, axes: tuple):
    for q, a in zip(qs, axes):
        x = _along(x, q, a)
    return x


def project_back(x, qs: tuple, axes: tuple):
    for q, a in zip(qs, axes):
        x = _along(x, q.T, a)
    return x


def _gram(g: jnp.ndarray, axis: int) -> jnp.ndarray:
    """g_(axis) g_(axis)^T: contraction over every other axis."""
    others = [i for i in range(g.ndim) if i != axis]
    return jnp.tensordot(g, g, axes=(others, others))


def _eigenbasis(gg: jnp.ndarray) -> jnp.ndarray:
    """Eigenvectors of a symmetric matrix by decreasing eigenvalue."""
    _, vecs = jnp.linalg.eigh(gg + 1e-30 * jnp.eye(gg.shape[0], dtype=gg.dtype))
    return vecs[:, ::-1]


def _refresh(gg: tuple, q: tuple, nu: jnp.ndarray, axes: tuple):
    """One power iteration + QR per axis, columns first sorted by their estimated eigenvalues
    (and the second moment's axis permuted the same way, so it stays attached to its vector)."""
    new_q = []
    for g, o, a in zip(gg, q, axes):
        order = jnp.argsort(-jnp.diag(o.T @ g @ o))
        nu = jnp.take(nu, order, axis=a)
        o = o[:, order]
        new_q.append(jnp.linalg.qr(g @ o)[0])
    return tuple(new_q), nu


def scale_by_soap(
    b1: float = 0.95,
    b2: float = 0.95,
    shampoo_beta: float | None = None,
    eps: float = 1e-8,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    precondition_1d: bool = False,
) -> optax.GradientTransformation:
    """SOAP's preconditioned direction. shampoo_beta: decay of the preconditioner statistics
    (None: b2, as in the paper)."""
    bs = b2 if shampoo_beta is None else shampoo_beta

    def leaf_axes(x):
        return preconditioned_axes(x.shape, max_precond_dim, precondition_1d)

    def init_fn(params):
        leaves = jax.tree_util.tree_leaves(params)
        zeros = lambda: [jnp.zeros_like(x) for x in leaves]
        mats = [tuple(jnp.zeros((x.shape[a],) * 2, x.dtype) for a in leaf_axes(x)) for x in leaves]
        eyes = [tuple(jnp.eye(x.shape[a], dtype=x.dtype) for a in leaf_axes(x)) for x in leaves]
        return SoapState(jnp.zeros((), jnp.int32), zeros(), zeros(), mats, eyes)

    def leaf_update(g, mu, nu, gg, q, first, t):
        axes = leaf_axes(g)
        gp = project(g, q, axes)
        mu = b1 * mu + (1 - b1) * gp
        nu = b2 * nu + (1 - b2) * gp**2
        tf = t.astype(g.dtype)
        scale = jnp.sqrt(1 - b2**tf) / (1 - b1**tf)
        direction = project_back(mu / (jnp.sqrt(nu) + eps), q, axes) * scale
        # The preconditioner takes this step's gradient only after the step (never in its own projection).
        gg = tuple(bs * s + (1 - bs) * _gram(g, a) for s, a in zip(gg, axes))
        if axes:

            def refreshed():  # new basis; the first moment re-expressed in it
                new_q, new_nu = _refresh(gg, q, nu, axes)
                return new_q, project(project_back(mu, q, axes), new_q, axes), new_nu

            q, mu, nu = jax.lax.cond(t % precondition_frequency == 0, refreshed, lambda: (q, mu, nu))
            # First call: statistics and eigenbasis only.
            q = jax.lax.cond(first, lambda: tuple(_eigenbasis(s) for s in gg), lambda: q)
        keep = lambda new, old: jnp.where(first, old, new)
        zero = jnp.zeros_like(g)
        return keep(direction, zero), keep(mu, zero), keep(nu, zero), gg, q

    def update_fn(updates, state: SoapState, params=None):
        del params
        leaves, treedef = jax.tree_util.tree_flatten(updates)
        first = state.count == 0
        t = jnp.maximum(state.count, 1)
        out = [leaf_update(*args, first, t) for args in zip(leaves, state.mu, state.nu, state.gg, state.q)]
        directions, mu, nu, gg, q = (list(x) for x in zip(*out)) if out else ([], [], [], [], [])
        new_state = SoapState(state.count + 1, mu, nu, gg, q)
        return jax.tree_util.tree_unflatten(treedef, directions), new_state

    return optax.GradientTransformation(init_fn, update_fn)
