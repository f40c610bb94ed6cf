"""Row tiles with halos, so big per-pixel networks run on cache-sized pieces.

On a CPU the fitting step is memory-bound: an 18-channel activation over a Kodak image is 28 MB,
far beyond the caches, and each pass over it goes to DRAM. Splitting rows into
tiles and scanning a checkpointed body over them keeps activations in cache in both the
forward and the backward pass. Tiles are cut with static indices, so shapes never change.

On an accelerator the same scan runs its tiles one after the other on a chip that wants
thousands of independent pixels per kernel: tiles are then big enough for a whole image per
candidate (faster on a GPU than CPU-sized tiles: benchmarks/results/gpu/).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Target number of positions per tile: big enough to amortise loop overhead, small enough that
# a tile's activations (~20 channels of float32) stay in the CPU's L2/L3 cache.
TILE_POSITIONS = 16384
# On accelerators (activations ~20 channels of float32: ~0.3 GB per activation at this size,
# small beside a GPU's memory). Vmapped candidates each get a full tile: shrinking their tiles
# to share the cache was slower on the CPU.
ACCEL_TILE_POSITIONS = 1 << 22


def tile_target() -> int:
    """Positions per tile for the backend being traced for (CPU: cache-sized)."""
    return TILE_POSITIONS if jax.default_backend() == "cpu" else ACCEL_TILE_POSITIONS


def tile_rows(height: int, width: int, target: int | None = None) -> int:
    target = tile_target() if target is None else target
    return int(max(1, min(height, target // max(width, 1))))


def _blocks(x: jnp.ndarray, start: int, n: int, rows: int, keep: int, axis: int) -> jnp.ndarray:
    """Rows start + j*rows + t (t < keep) for j < n, as an (n, ..., keep, ...) array."""
    need = start + n * rows - x.shape[axis]
    if need > 0:  # only happens for halo rows past the end, which are then never used
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, need)
        x = jnp.pad(x, pad)
    y = jax.lax.slice_in_dim(x, start, start + n * rows, axis=axis)
    shape = list(y.shape)
    shape[axis : axis + 1] = [n, rows]
    y = jax.lax.slice_in_dim(y.reshape(shape), 0, keep, axis=axis + 1)
    return jnp.moveaxis(y, axis, 0)


def split_rows(x: jnp.ndarray, rows: int, halo_top: int, halo_bottom: int, axis: int = -2):
    """Cut an array that already carries halo rows into overlapping tiles.

    x has halo_top + H + halo_bottom rows along `axis`; returns (tiles, remainder) where tiles
    has shape (n, ..., rows + halos, ...) (None when n = 0) and the remainder covers the last
    H % rows rows with their halos (or None). Built from slices and reshapes only, so the
    transpose (used by the backward pass) is cheap: no gather, no scatter.
    """
    axis = axis % x.ndim
    h = x.shape[axis] - halo_top - halo_bottom
    n = h // rows
    tiles = None
    if n:
        span = rows + halo_top + halo_bottom
        parts = [_blocks(x, o, n, rows, min(rows, span - o), axis) for o in range(0, span, rows)]
        tiles = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=axis + 1)
    rem = None
    if n * rows < h:
        rem = jax.lax.slice_in_dim(x, n * rows, x.shape[axis], axis=axis)
    return tiles, rem


def sum_over_tiles(fn, tiles, rem, *, remat: bool = True):
    """sum(fn(tile)) over the tiles and the remainder; fn returns a pytree of scalars.

    tiles and rem are pytrees (or None) whose leaves share the leading tile axis / row count.
    A single tile is not checkpointed: nothing else competes for its memory.
    """
    body_fn = jax.checkpoint(fn) if remat else fn
    total = None
    if tiles is not None:
        n = jax.tree.leaves(tiles)[0].shape[0]
        if n == 1:
            total = fn(jax.tree.map(lambda a: a[0], tiles))
        else:
            first = jax.eval_shape(fn, jax.tree.map(lambda a: a[0], tiles))
            zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), first)

            def body(carry, tile):
                return jax.tree.map(jnp.add, carry, body_fn(tile)), None

            total, _ = jax.lax.scan(body, zero, tiles)
    if rem is not None:
        r = fn(rem)
        total = r if total is None else jax.tree.map(jnp.add, total, r)
    return total


def map_over_tiles(fn, tiles, rem, axis: int = -2):
    """Concatenate fn(tile) over tiles (in order) and the remainder along `axis` of the result."""
    outs = []
    if tiles is not None:
        ys = jax.lax.map(fn, tiles)  # (n, ..., rows, ...)
        axis_y = axis % (ys.ndim - 1)
        ys = jnp.moveaxis(ys, 0, axis_y)
        shape = list(ys.shape)
        shape[axis_y : axis_y + 2] = [shape[axis_y] * shape[axis_y + 1]]
        outs.append(ys.reshape(shape))
    if rem is not None:
        outs.append(fn(rem))
    return outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=axis)
