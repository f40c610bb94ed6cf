"""Array helpers for vmapped candidates: the convolutions' batched form (arrays.vmapped_as) and
the layout-keeping matmul, against the plain JAX computations they replace."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from conftest import jaxpr_equations, leaves_close

from coolchic.model.arrays import matmul
from coolchic.model.synthesis import conv3x3_valid_rows
from coolchic.model.video import _CONV_FRAMES


def _primitives(fn, *args) -> set:
    return {e.primitive.name for e in jaxpr_equations(jax.make_jaxpr(fn)(*args).jaxpr)}


CONVS = {
    "synthesis": (conv3x3_valid_rows, lambda r: {"w": r((3, 3, 3, 3)), "b": r((3,))}, (3, 9, 11)),
    "video per frame": (_CONV_FRAMES[False], lambda r: r((3, 3, 3, 3)), (3, 4, 6, 7)),
    "video 3x3x3": (_CONV_FRAMES[True], lambda r: r((3, 3, 3, 3, 3)), (3, 4, 6, 7)),
}


@pytest.mark.parametrize("name", CONVS)
def test_vmapped_convolutions_are_batched_matmuls_with_the_same_values_and_gradients(name):
    """Each candidate its own weights and input: under vmap the convolution and both its
    gradients equal those of each candidate alone (lax convolutions), and the vmapped program
    holds no convolution (a grouped one: slow backward on GPUs)."""
    conv, weights, shape = CONVS[name]
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 16))
    r = lambda s: jax.random.normal(next(keys), s)
    ws = [weights(r) for _ in range(3)]
    xs = [r(shape) for _ in range(3)]
    target = r((3, *conv(ws[0], xs[0]).shape))

    def loss(w, x, t):
        return jnp.sum(jnp.tanh(conv(w, x)) * t)

    grad = jax.value_and_grad(loss, argnums=(0, 1))
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)
    batched = jax.vmap(grad)(stack(ws), jnp.stack(xs), target)
    alone = stack([grad(w, x, t) for w, x, t in zip(ws, xs, target)])
    leaves_close(batched, alone, atol=1e-4)
    assert "conv_general_dilated" not in _primitives(jax.vmap(grad), stack(ws), jnp.stack(xs), target)
    assert "conv_general_dilated" in _primitives(grad, ws[0], xs[0], target[0])


def test_matmul_gradients_equal_jax_and_need_no_transpose():
    """arrays.matmul: the gradients of a @ b, vmapped too, without the transpose (an image-sized
    copy for the im2col views) that JAX's pullback of b adds."""
    a, b, t = (
        jax.random.normal(k, s)
        for k, s in zip(jax.random.split(jax.random.PRNGKey(1), 3), [(3, 27), (27, 50), (3, 50)])
    )
    grad = lambda mm: jax.grad(lambda a, b: jnp.sum(mm(a, b) * t), argnums=(0, 1))
    leaves_close(grad(matmul)(a, b), grad(jnp.matmul)(a, b), atol=1e-5)
    leaves_close(
        jax.vmap(grad(matmul))(jnp.stack([a, -a]), jnp.stack([b, 2 * b])),
        jax.vmap(grad(jnp.matmul))(jnp.stack([a, -a]), jnp.stack([b, 2 * b])),
        atol=1e-5,
    )

    def big_transposes(mm):  # copies of b-sized arrays (its gradient), not of weight-sized ones
        jaxpr = jax.make_jaxpr(jax.vmap(grad(mm)))(jnp.stack([a, a]), jnp.stack([b, b])).jaxpr
        return [
            e for e in jaxpr_equations(jaxpr) if e.primitive.name == "transpose" and e.invars[0].aval.size >= b.size
        ]

    assert not big_transposes(matmul) and big_transposes(jnp.matmul)
