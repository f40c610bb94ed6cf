"""Array helpers whose layout stays cheap when a candidate axis is added by `jax.vmap`."""

from __future__ import annotations

import jax.numpy as jnp


def stack_first(arrays: list, xnp=jnp):
    """stack(arrays, 0), built as reshape + concatenate.

    Under vmap, jnp.stack of batched arrays puts the candidate axis second, and the next reshape
    of the stack then copies the whole result to bring it back first (measured: the ARM context
    matrix and the upsampled features, two full copies per step of vmapped candidates).
    """
    return xnp.concatenate([a.reshape(1, *a.shape) for a in arrays], 0)
