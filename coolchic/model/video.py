"""The overfitted video model (C3 video): 3D latent grids, temporal ARM context, trilinear
upsampling, per-pixel synthesis with 3D (or per-frame 2D) residual convolutions.

It implements the same functions as coolchic.model.image (init_params, rate_bits, rd_terms,
decode_image) over videos (C, T, H, W), so the one fitting loop, recipes, weight quantization and
bitstream code serve both. Grid i has shape ceil(T/2^i) x ceil(H/2^i) x ceil(W/2^i).

ARM context of latent (t, y, x) of grid g: the causal neighbours (dy, dx) of `config.context` in
frame t, then a kh x kw window of frame t - 1 around (y + oy_g, x + ox_g), where (oy_g, ox_g) is
the grid's offset (config.prev_offsets; found by a short pre-fit, see coolchic.api.video).
Frame -1 and everything outside a frame reads as zero. One MLP serves all grids.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from coolchic.config import VideoConfig
from coolchic.model.arm import init_arm, mlp
from coolchic.model.arrays import stack_first, vmapped_as
from coolchic.model.contract import Model
from coolchic.model.laplace import laplace_bits
from coolchic.model.latents import init_latents, pyramid
from coolchic.model.synthesis import conv3x3_matmul, init_synthesis, pixel_mlp
from coolchic.model.tiling import map_over_tiles, split_rows, sum_over_tiles, tile_rows
from coolchic.model.upsampling import bilinear_axis


def grid_shapes(frames: int, height: int, width: int, n_grids: int) -> list[tuple[int, int, int]]:
    """(t, h, w) of each grid, finest first: every dimension ceil-divided by 2^i."""
    return pyramid((frames, height, width), n_grids)


def init_params(key, config: VideoConfig, frames: int, height: int, width: int) -> dict:
    k_arm, k_syn = jax.random.split(key)
    arm = init_arm(k_arm, config)
    synthesis = init_synthesis(k_syn, config)
    if config.conv3d:
        c = config.out_channels
        synthesis["convs"] = [{"w": jnp.zeros((c, c, 3, 3, 3)), "b": jnp.zeros((c,))} for _ in synthesis["convs"]]
    return {
        "latents": init_latents((frames, height, width), config.n_grids),
        "arm": arm,
        "upsampling": {},
        "synthesis": synthesis,
    }


# ----------------------------------------------------------------------------- rate


def pads(offsets) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zero padding that keeps every offset in range."""
    dys = [dy for dy, _ in offsets] + [0]
    dxs = [dx for _, dx in offsets] + [0]
    return max(0, -min(dys)), max(0, max(dys)), max(0, -min(dxs)), max(0, max(dxs))


def grid_bits(arm: dict, grid: jnp.ndarray, config: VideoConfig, index: int) -> jnp.ndarray:
    """Total bits of one (T, h, w) grid, computed on row tiles (all frames of a few rows each)."""
    t, h, w = grid.shape
    cur_off, prev_off = config.context, config.prev_context(index)
    ct, cb, cl, cr = pads(cur_off)
    pt, pb, pl, pr = pads(prev_off)
    cur = jnp.pad(grid, ((0, 0), (ct, 0), (cl, cr)))
    prev = jnp.concatenate([jnp.zeros_like(grid[:1]), grid[:-1]], 0)
    prev = jnp.pad(prev, ((0, 0), (pt, pb), (pl, pr)))
    rows = tile_rows(h, t * w)

    def slab_bits(tile):
        c, p = tile
        r = c.shape[1] - ct
        views = [c[:, ct + dy : ct + dy + r, cl + dx : cl + dx + w] for dy, dx in cur_off]
        views += [p[:, pt + dy : pt + dy + r, pl + dx : pl + dx + w] for dy, dx in prev_off]
        out = mlp(arm, stack_first(views).reshape(len(views), -1))
        y = c[:, ct:, cl : cl + w].reshape(-1)
        return jnp.sum(laplace_bits(y, out[0], out[1]))

    c_tiles, c_rem = split_rows(cur, rows, ct, 0, axis=1)
    p_tiles, p_rem = split_rows(prev, rows, pt, pb, axis=1)
    return sum_over_tiles(
        slab_bits, None if c_tiles is None else (c_tiles, p_tiles), None if c_rem is None else (c_rem, p_rem)
    )


def rate_bits(params: dict, latents: list, config: VideoConfig) -> jnp.ndarray:
    return sum(grid_bits(params["arm"], g, config, i) for i, g in enumerate(latents))


# ----------------------------------------------------------------------------- synthesis


def upsample(grids: list, config: VideoConfig, frames: int, height: int, width: int, xnp=jnp):
    """(n_grids, T, H, W): grid i trilinearly upsampled by 2^i (half-sample aligned, edges clamped)."""
    ups = []
    for i, g in enumerate(grids):
        for axis in range(3):
            g = bilinear_axis(g, 2**i, axis, xnp)
        ups.append(g[:frames, :height, :width])
    return stack_first(ups, xnp)


def _mlp_tiled(layers: list, feats: jnp.ndarray) -> jnp.ndarray:
    """Per-pixel MLP of (G, T, H, W) features on cache-sized row tiles (rematerialised backward)."""
    g, t, h, w = feats.shape
    flat = feats.reshape(g, t * h, w)
    tiles, rem = split_rows(flat, tile_rows(t * h, w), 0, 0, axis=1)
    out = map_over_tiles(jax.checkpoint(lambda f: pixel_mlp(layers, f)), tiles, rem, axis=-2)
    return out.reshape(-1, t, h, w)


def _with_neighbour_frames(x: jnp.ndarray, k: jnp.ndarray, t_axis: int, c_axis: int):
    """A 3x3x3 conv as a 3x3 one: frames t-1, t, t+1 of x (zero beyond the ends) stacked along
    its channel axis, and the (C, C, 3, 3, 3) kernel k reshaped to match, (C, 3C, 3, 3)."""
    t, c = x.shape[t_axis], k.shape[0]
    pad = [(0, 0)] * x.ndim
    pad[t_axis] = (1, 1)
    padded = jnp.pad(x, pad)
    shifted = [jax.lax.slice_in_dim(padded, d, d + t, axis=t_axis) for d in range(3)]
    return jnp.concatenate(shifted, c_axis), jnp.moveaxis(k, 2, 1).reshape(c, 3 * c, 3, 3)


def _conv_frames(conv3d: bool):
    """(k, x (C, T, H, W)) -> the conv of x, zero padding: 2D convs over frames, whose weights
    vmapped candidates apply as batched matmuls (arrays.vmapped_as).

    Written as 2D convs over frames: XLA:CPU runs a 3D conv an order of magnitude slower.
    """

    def with_lax(k, x):
        frames = jnp.swapaxes(x, 0, 1)  # (T, C, H, W): frames are the batch of a 2D conv
        if conv3d:
            frames, k = _with_neighbour_frames(frames, k, 0, 1)
        return jnp.swapaxes(jax.lax.conv_general_dilated(frames, k, (1, 1), "SAME"), 0, 1)

    def with_matmul(k, x):
        if conv3d:
            x, k = _with_neighbour_frames(x, k, 1, 0)
        return conv3x3_matmul(k, x, 1)

    return vmapped_as(with_lax, with_matmul)


_CONV_FRAMES = {conv3d: _conv_frames(conv3d) for conv3d in (False, True)}


def residual_convs(convs: list, x: jnp.ndarray, conv3d: bool) -> jnp.ndarray:
    """x + conv(x) for each residual conv (3x3x3, or 3x3 per frame), zero padding; x is (C, T, H, W)."""
    for conv in convs:
        x = x + _CONV_FRAMES[conv3d](conv["w"], x) + conv["b"][:, None, None, None]
    return x


def synthesize(params: dict, feats: jnp.ndarray, config: VideoConfig) -> jnp.ndarray:
    """(C, T, H, W) reconstruction, not clipped."""
    return residual_convs(params["convs"], _mlp_tiled(params["layers"], feats), config.conv3d)


def decode_image(params: dict, latents: list, config: VideoConfig, frames: int, height: int, width: int):
    """Reconstruction (C, T, H, W) in [0, 1] from (rounded) latents."""
    f = upsample(latents, config, frames, height, width)
    return jnp.clip(synthesize(params["synthesis"], f, config), 0.0, 1.0)


def rd_terms(params: dict, latents: list, config: VideoConfig, video: jnp.ndarray):
    """(mse, bits) of a video (C, T, H, W) given quantized (or noisy) latents."""
    _, t, h, w = video.shape
    x = synthesize(params["synthesis"], upsample(latents, config, t, h, w), config)
    return jnp.mean((x - video) ** 2), rate_bits(params, latents, config)


VIDEO_MODEL = Model(
    name="video",
    n_dims=3,
    init_params=init_params,
    grid_shapes=lambda config, frames, height, width: grid_shapes(frames, height, width, config.n_grids),
    rate_bits=rate_bits,
    rd_terms=rd_terms,
    decode=decode_image,
)
