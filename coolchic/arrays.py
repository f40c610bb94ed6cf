"""Array helpers that stay cheap when a candidate axis is added by `jax.vmap`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


def stack_first(arrays: list, xnp=jnp):
    """stack(arrays, 0), built as reshape + concatenate.

    Under vmap, jnp.stack of batched arrays puts the candidate axis second, and the next reshape
    of the stack then copies the whole result to bring it back first (measured: the ARM context
    matrix and the upsampled features, two full copies per step of vmapped candidates).
    """
    return xnp.concatenate([a.reshape(1, *a.shape) for a in arrays], 0)


def _mapped(f):
    """f, but under jax.vmap evaluated per batch element with lax.map (unbatched args shared)."""
    g = custom_vmap(f)

    @g.def_vmap
    def rule(axis_size, in_batched, *args):
        leaves, tree = jax.tree.flatten(list(args))
        flags = jax.tree.leaves(list(in_batched))

        def one(batched):
            it = iter(batched)
            return f(*tree.unflatten([next(it) if b else a for a, b in zip(leaves, flags)]))

        out = jax.lax.map(one, [a for a, b in zip(leaves, flags) if b])
        return out, jax.tree.map(lambda _: True, out)

    return g


def one_at_a_time(f):
    """f(args, data) (array pytrees in and out, differentiable in args only) whose vmapped
    candidates run one after the other inside the compiled program (lax.map), forward and
    backward, instead of as batched ops.

    For the per-pixel networks on a CPU: XLA:CPU runs batched matmuls and grouped convolutions
    1.3-1.4x slower than the same work as separate ops (profile of 4 vmapped seeds), so vmapped
    candidates took 1.28-1.35x the time of serial fits; with their networks one at a time, about
    the time of serial fits (benchmarks/rd_budget.py candidates), the rest of the step batched.
    """
    forward = _mapped(f)
    backward = _mapped(lambda args, data, ct: jax.vjp(lambda a: f(a, data), args)[1](ct)[0])

    @jax.custom_vjp
    def g(args, data):
        return forward(args, data)

    g.defvjp(lambda args, data: (forward(args, data), (args, data)), lambda res, ct: (backward(*res, ct), None))
    return g
