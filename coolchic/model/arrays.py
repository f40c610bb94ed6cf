"""Array helpers that stay cheap when a candidate axis is added by `jax.vmap`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


def stack_first(arrays: list, xnp=jnp):
    """stack(arrays, 0), built as reshape + concatenate.

    Under vmap, jnp.stack of batched arrays puts the candidate axis second, and the next reshape
    of the stack then copies the whole result to bring it back first (the ARM context matrix and
    the upsampled features: two full copies per step of vmapped candidates).
    """
    return xnp.concatenate([a.reshape(1, *a.shape) for a in arrays], 0)


@jax.custom_vjp
def matmul(a: jnp.ndarray, b: jnp.ndarray) -> jnp.ndarray:
    """a @ b for 2-D a and b, whose gradients come out in the operands' layouts: JAX's own
    pullback computes b's gradient transposed and then transposes it (an image-sized copy per
    step for a (9C, H*W) im2col matrix, also under vmap)."""
    return a @ b


def _matmul_fwd(a, b):
    return a @ b, (a, b)


def _matmul_bwd(res, ct):
    a, b = res
    contract = lambda x, y, dims: jax.lax.dot_general(x, y, (dims, ((), ())))
    return contract(ct, b, ((1,), (1,))), contract(a, ct, ((0,), (0,)))


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def _with_vmap_rule(f, g, how: str):
    """f, but under jax.vmap: g (the same function) run per batch element with lax.map
    (how="map") or batched by jax.vmap (how="vmap"); unbatched arguments are shared."""
    h = custom_vmap(f)

    @h.def_vmap
    def rule(axis_size, in_batched, *args):
        leaves, tree = jax.tree.flatten(list(args))
        flags = jax.tree.leaves(list(in_batched))

        def one(batched):
            it = iter(batched)
            return g(*tree.unflatten([next(it) if b else a for a, b in zip(leaves, flags)]))

        batched = [a for a, b in zip(leaves, flags) if b]
        out = jax.lax.map(one, batched) if how == "map" else jax.vmap(one)(batched)
        return out, jax.tree.map(lambda _: True, out)

    return h


def _differentiable(f, g, how: str, data_grad: bool):
    """f(args, data) with _with_vmap_rule's batching, forward and backward (a custom VJP whose
    pullback is batched the same way); data_grad: differentiate in data too, else in args only."""

    def vjp(fn):
        if data_grad:
            return lambda args, data, ct: jax.vjp(fn, args, data)[1](ct)
        return lambda args, data, ct: (jax.vjp(lambda a: fn(a, data), args)[1](ct)[0], None)

    forward = _with_vmap_rule(f, g, how)
    backward = _with_vmap_rule(vjp(f), vjp(g), how)

    @jax.custom_vjp
    def h(args, data):
        return forward(args, data)

    h.defvjp(lambda args, data: (forward(args, data), (args, data)), lambda res, ct: backward(*res, ct))
    return h


def one_at_a_time(f):
    """f(args, data) (array pytrees in and out, differentiable in args only) whose vmapped
    candidates run one after the other inside the compiled program (lax.map), forward and
    backward, instead of as batched ops.

    For the per-pixel networks on a CPU: XLA:CPU runs batched matmuls and grouped convolutions
    slower than the same work as separate ops, so vmapped candidates were slower than serial fits;
    with their networks one at a time and the rest of the step batched they are not (figures:
    benchmarks/rd_budget.py candidates, README).
    """
    return _differentiable(f, f, "map", data_grad=False)


def vmapped_as(f, g):
    """f(args, data) (differentiable in both), computed under jax.vmap as jax.vmap(g), forward
    and backward: g is the same function written with operations that batch better.

    For the synthesis convolutions: vmapped, a convolution whose weights differ per candidate
    becomes a grouped convolution (feature_group_count = candidates) in the forward pass and in
    both gradients, whose backward pass XLA:GPU runs far slower than ungrouped ones
    (jax-ml/jax#13800); written as a matmul over shifted views, the candidates' convolutions
    become batched matmuls instead.
    """
    return _differentiable(f, g, "vmap", data_grad=True)
