"""Real bitstreams for the learned baselines (range coding with ``constriction``).

:class:`Codec` wraps a model and its variables; ``compress(pixels, bit_depth)``
returns the file bytes (format: :mod:`baselines.bitstream`) and
``decompress(data)`` the image. What is coded, per model:

* factorized bottleneck (``z`` of the hyperpriors, ``y`` of ``bmshj2018-factorized``):
  symbols ``round(v - median)`` per channel, coded with the channel's integer CDF
  table (``EntropyBottleneck.quantized_cdfs``, CompressAI's ``update()``); values outside
  the table are coded as its overflow symbol plus an escape (exact, no clamping);
* Gaussian conditional: ``round(y - mu)`` (``mu = 0`` for ``bmshj2018-hyperprior``)
  with the CDF table of the scale-table index of its scale (tables built on the host
  in float64; indexes from float32 comparisons), escapes as above. The coding table has
  ``CODING_SCALE_LEVELS`` = 256 log-spaced scales over CompressAI's range [0.11, 256]
  (ratio 1.031 between neighbours) instead of CompressAI's 64 (ratio 1.131): each scale is
  rounded *up* to a table entry, which with 64 levels cost ~4 % of the y bits of briefly
  trained models (benchmarks/baselines_rate.py); the model's own ``scale_table`` (a
  checkpoint buffer) is unchanged;
* GMM head (``head="gmm"``): ``round(y)`` over the alphabet ``[lo, hi]`` written in the
  header, pmf of the K-component mixture computed on the host in float64
  (:func:`gmm_pmf`) from the entropy-parameter network's output;
* autoregressive models (``mbt2018``, ``cheng2020-*``): the 5x5 type-A context of
  ``(i, j)`` reaches ``(i-1, j+2)``, so the wavefront ``t = 3 i + j`` (not ``2 i + j``,
  which would put ``(i-1, j+2)`` on the same front) holds independent positions; each
  front is one jitted call computing the masked context (a gather of the 12 causal
  taps + one dot, only for those positions; latents stay on the device) and the
  entropy parameters, then one batch of coding calls.
  Encoder and decoder run the very same loop (:meth:`Codec._ar_loop`) on the same
  partially filled latent buffer, so their parameters agree bit for bit.

Symbols that share a CDF table are coded together (one ``constriction`` call per table
and per front) in raster order; the decoder knows the grouping from the already
decoded data. Each table enters ``constriction.stream.model.Categorical`` as its
integer frequencies (``perfect=False``, exact in float64, so constriction's 24-bit
requantisation is deterministic).

Reconstruction: the coder's latents (``round(y - mu) + mu`` for the mean-scale and the
Gaussian autoregressive models, as CompressAI's ``compress``; ``round(y)`` for the GMM
head) go through ``g_s``; images are padded (edge replicate) to a multiple of the
model's downsampling factor (64 with a hyperprior, 16 for the factorized prior) and
cropped back; output clipped to [0, 1].

Determinism: the Gaussian/bottleneck tables are constant-derived, but scales, means
and mixture parameters come from float convolutions, so a stream is only guaranteed
to decode on the same platform/JAX backend that encoded it (encoder and decoder share
every code path). Cross-platform determinism is not guaranteed for the hyperprior,
GMM and autoregressive models (it would need integer networks, as Cool-chic's ARM).
"""

from __future__ import annotations

import functools

import constriction
import jax
import jax.numpy as jnp
import numpy as np

from .bitstream import (
    BitstreamError,
    EscapeReader,
    EscapeWriter,
    Header,
    header_size,
    pack,
    unpack,
    weights_id,
)
from .entropy_models import GaussianConditional, get_scale_table
from .layers import type_a_mask
from .models import (
    FactorizedPrior,
    JointAutoregressiveHierarchicalPriors,
    MeanScaleHyperprior,
    ScaleHyperprior,
)

__all__ = [
    "Codec",
    "load_codec",
    "TableCoder",
    "gmm_pmf",
    "ndtr",
    "build_indexes",
    "gaussian_bits",
    "coded_bits",
    "model_kind",
    "CODING_SCALE_LEVELS",
]

_CAUSAL = np.argwhere(type_a_mask(5, "A") > 0).astype(np.int32)  # (12, 2) taps of the 5x5 window
_CM = constriction.stream.model
_CQ = constriction.stream.queue
_MAX_SYMBOL = 2**31 - 1


# ---------------------------------------------------------------------------
# Host-side probability helpers (numpy, float64)
# ---------------------------------------------------------------------------


def _erfc(x):
    """erfc with relative error < 1.2e-7 everywhere (Numerical Recipes' ``erfcc``), numpy."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (
        1.00002368
        + t
        * (
            0.37409196
            + t
            * (
                0.09678418
                + t
                * (
                    -0.18628806
                    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))
                )
            )
        )
    )
    ans = t * np.exp(-z * z + poly)
    return np.where(x >= 0, ans, 2.0 - ans)


def ndtr(x):
    """Standard normal CDF in float64 (accurate relative values in the lower tail)."""
    return 0.5 * _erfc(np.asarray(x, np.float64) * -(2.0**-0.5))


def gmm_pmf(logits, means, scales, lo: int, hi: int, scale_bound: float = 0.11, floor: float = 1e-12):
    """Mixture pmf over integers ``lo..hi`` -> (n, hi-lo+1) float64.

    ``logits``/``means``/``scales``: (n, K) float32 entropy parameters; weights are a
    float64 softmax, scales floored at ``scale_bound``. Each component's CDF is taken at
    the ``W + 1`` bin edges as the *tail* mass ``Phi(-|e - mu| / s)`` (one ``erfc`` per
    edge, accurate far from the mean); a bin's mass is the difference of its edges'
    tails, or ``1 -`` their sum when it contains the mean.
    """
    logits = np.asarray(logits, np.float64)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    mu = np.asarray(means, np.float64)[:, :, None]
    s = np.maximum(np.asarray(scales, np.float64), scale_bound)[:, :, None]
    d = (np.arange(lo, hi + 2, dtype=np.float64)[None, None, :] - 0.5 - mu) / s  # (n, K, W+1)
    tail = ndtr(-np.abs(d))
    a, b = d[..., :-1], d[..., 1:]
    ta, tb = tail[..., :-1], tail[..., 1:]
    p = np.where((a >= 0) | (b <= 0), np.abs(ta - tb), 1.0 - ta - tb)
    return np.maximum(np.einsum("nk,nkv->nv", w, p), floor)


CODING_SCALE_LEVELS = 256
_CODING_GC = GaussianConditional(scale_table=tuple(float(s) for s in get_scale_table(levels=CODING_SCALE_LEVELS)))
_SCALE_TABLE = np.asarray(_CODING_GC.scale_table, np.float32)


def build_indexes(scales) -> np.ndarray:
    """Index of the smallest coding-table scale >= ``max(scale, 0.11)`` (CompressAI's
    ``build_indexes`` rule, on the host, exact float32 comparisons)."""
    s = np.maximum(np.asarray(scales, np.float32), np.float32(_CODING_GC.scale_bound))
    return np.searchsorted(_SCALE_TABLE[:-1], s, side="left").astype(np.int64)


def gaussian_bits(q, scales) -> float:
    """-sum log2 P(q) of integer residuals ``q = round(y - mu)`` under N(0, max(scale, 0.11))
    integrated over the unit bin, floored at the likelihood bound, in float64: the code length
    the model assigns to what the coder writes (the table coder pays slightly more)."""
    gc = _CODING_GC
    s = np.maximum(np.asarray(scales, np.float64), gc.scale_bound)
    v = np.abs(np.asarray(q, np.float64))
    p = ndtr((0.5 - v) / s) - ndtr((-0.5 - v) / s)
    return float(-np.log2(np.maximum(p, gc.likelihood_bound)).sum())


def _to_int(q: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(q)) or np.abs(q).max(initial=0) > _MAX_SYMBOL:
        raise ValueError(f"{what}: latent values are not finite or beyond +-2^31")
    return q.astype(np.int64)


class TableCoder:
    """Integer symbols with CompressAI-layout CDF tables (``quantized_cdf``, ``cdf_length``, ``offset``).

    Value ``v = q - offset[i]`` in ``[0, cdf_length[i] - 2)`` is coded as itself, others
    as the overflow symbol ``cdf_length[i] - 2`` followed by ``q`` in the escape section.
    """

    def __init__(self, tables: dict):
        cdf, lengths, offsets = tables["quantized_cdf"], tables["cdf_length"], tables["offset"]
        self.offset = np.asarray(offsets, np.int64)
        self.overflow = np.asarray(lengths, np.int64) - 2
        self.models = [
            _CM.Categorical(np.diff(cdf[i, : lengths[i]]).astype(np.float64), perfect=False)
            for i in range(len(lengths))
        ]

    @staticmethod
    def _groups(idx):
        order = np.argsort(idx, kind="stable")
        uniq, starts = np.unique(idx[order], return_index=True)
        return zip(uniq.tolist(), np.split(order, starts[1:]))

    def encode(self, enc, esc: EscapeWriter, idx: np.ndarray, q: np.ndarray) -> None:
        """Code ``q`` (int64) with tables ``idx`` (same shape, flattened)."""
        idx, q = idx.ravel(), q.ravel()
        for u, g in self._groups(idx):
            v = q[g] - self.offset[u]
            over = (v < 0) | (v >= self.overflow[u])
            enc.encode(np.where(over, self.overflow[u], v).astype(np.int32), self.models[u])
            if over.any():
                esc.extend(q[g][over])

    def decode(self, dec, esc: EscapeReader, idx: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: int64 values of the shape of ``idx``."""
        flat = idx.ravel()
        q = np.empty(flat.size, np.int64)
        for u, g in self._groups(flat):
            sym = dec.decode(self.models[u], g.size).astype(np.int64)
            over = sym == self.overflow[u]
            val = sym + self.offset[u]
            if over.any():
                val[over] = esc.read(int(over.sum()))
            q[g] = val
        return q.reshape(idx.shape)


@functools.lru_cache(maxsize=1)
def _gaussian_coder() -> TableCoder:
    return TableCoder(_CODING_GC.quantized_cdfs())


def model_kind(model) -> str:
    """``factorized`` | ``hyperprior`` | ``meanscale`` | ``ar`` (coding path of a model)."""
    if isinstance(model, JointAutoregressiveHierarchicalPriors):
        return "ar"
    if isinstance(model, MeanScaleHyperprior):
        return "meanscale"
    if isinstance(model, ScaleHyperprior):
        return "hyperprior"
    if isinstance(model, FactorizedPrior):
        return "factorized"
    raise TypeError(f"no coding path for {type(model).__name__}")


# ---------------------------------------------------------------------------
# Module methods used under jit (functions of the bound module)
# ---------------------------------------------------------------------------


def _m_analysis(m, x, kind):
    y = m.g_a(x)
    if kind == "factorized":
        return y, None
    return y, m.h_a(jnp.abs(y) if kind == "hyperprior" else y)


def _m_hyper(m, z_hat):
    return m.h_s(z_hat)


def _m_synthesis(m, y_hat):
    return m.g_s(y_hat)


def _m_eb_tables(m):
    return m.entropy_bottleneck.quantized_cdfs()


# ---------------------------------------------------------------------------
# Codec
# ---------------------------------------------------------------------------


class Codec:
    """Compress/decompress images with one baseline model and its variables.

    ``name``: the ``MODELS`` key (written in the stream). Jitted functions are built
    once per instance (and compiled once per image size), so reuse a ``Codec``.
    """

    def __init__(self, name: str, model, variables):
        self.name, self.model, self.variables = name, model, variables
        self.kind = model_kind(model)
        self.head = getattr(model, "head", "gaussian")
        self.N = int(model.N)
        self.M = int(model.latent_channels if self.kind == "ar" else model.M)
        self.factor = int(model.downsampling_factor)
        self.weights_id = weights_id(variables)
        eb = model.apply(variables, method=_m_eb_tables)
        self._eb_medians = np.asarray(eb["medians"], np.float32)
        self._eb = TableCoder(eb)
        self._gc = _gaussian_coder()
        kind = self.kind
        self._analysis = jax.jit(lambda v, x: model.apply(v, x, kind, method=_m_analysis))
        self._hyper = jax.jit(lambda v, z: model.apply(v, z, method=_m_hyper))
        self._synthesis = jax.jit(lambda v, y: model.apply(v, y, method=_m_synthesis))
        self._forward = jax.jit(lambda v, x: model.apply(v, x))
        if kind == "ar":
            w = np.asarray(variables["params"]["context_prediction"]["weight"])  # (2M, M, 5, 5)
            w = w[:, :, _CAUSAL[:, 0], _CAUSAL[:, 1]]  # (2M, M, 12)
            self._ctx_w = jnp.asarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]))  # (12 M, 2M)
            self._ar_step = jax.jit(self._ar_step_fn)

    # -- shapes -----------------------------------------------------------------

    def padded_size(self, h: int, w: int):
        f = self.factor
        return -(-h // f) * f, -(-w // f) * f

    def latent_shapes(self, h: int, w: int):
        hp, wp = self.padded_size(h, w)
        y = (hp // 16, wp // 16, self.M)
        z = (0, 0, 0) if self.kind == "factorized" else (hp // 64, wp // 64, self.N)
        return y, z

    def _prepare(self, pixels):
        x = np.asarray(pixels, np.float32)
        if x.ndim == 2:
            x = x[..., None]
        if x.ndim != 3 or x.shape[2] not in (1, 3):
            raise ValueError(f"expected an (H, W, 1|3) image, got shape {x.shape}")
        if x.shape[2] == 1:
            x = np.repeat(x, 3, axis=2)  # gray: coded as replicated RGB, decoded as the mean
        h, w = x.shape[:2]
        hp, wp = self.padded_size(h, w)
        return np.pad(x, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")[None]

    def _finish(self, y_hat, h, w, channels):
        x_hat = np.asarray(self._synthesis(self.variables, jnp.asarray(y_hat[None])))[0, :h, :w]
        x_hat = np.clip(x_hat, 0.0, 1.0)
        if channels == 1:
            x_hat = x_hat.mean(-1, keepdims=True)
        return x_hat

    # -- bottleneck ----------------------------------------------------------------

    def _eb_encode(self, enc, esc, v):
        q = np.round(v - self._eb_medians)
        idx = np.broadcast_to(np.arange(v.shape[-1]), v.shape)
        self._eb.encode(enc, esc, idx, _to_int(q, "bottleneck"))
        return q + self._eb_medians

    def _eb_decode(self, dec, esc, shape):
        idx = np.broadcast_to(np.arange(shape[-1]), shape)
        return self._eb.decode(dec, esc, idx).astype(np.float32) + self._eb_medians

    # -- autoregressive wavefront ----------------------------------------------------

    def _ar_step_fn(self, variables, ctx_w, buf, hyper, prev_pos, prev_vals, pos):
        """One front: write the previous front's latents, then entropy parameters at ``pos``.

        ``ctx_w``: (12 M, 2M) causal taps of the context weights (built in ``__init__``);
        ``buf``: (h+4, w+4, M) latents padded by 2 (device-resident between fronts);
        ``prev_pos``/``pos``: (P, 2) int32, padded with out-of-range rows (dropped on write,
        zeros on read). The masked 5x5 context is a gather of its 12 causal taps and one
        dot; ``entropy_parameters`` (1x1 convs) runs as dense matmuls (both several times
        faster than the convolutions on a few positions). Returns ``(buf, params (P, C))``.
        """
        p = variables["params"]
        buf = buf.at[prev_pos[:, 0] + 2, prev_pos[:, 1] + 2].set(prev_vals, mode="drop")
        rows = pos[:, None, 0] + _CAUSAL[None, :, 0]
        cols = pos[:, None, 1] + _CAUSAL[None, :, 1]
        patches = buf.at[rows, cols].get(mode="fill", fill_value=0.0)  # (P, 12, M)
        ctx = patches.reshape(patches.shape[0], -1) @ ctx_w + p["context_prediction"]["bias"]
        hyp = hyper.at[pos[:, 0], pos[:, 1]].get(mode="fill", fill_value=0.0)
        x = jnp.concatenate([hyp, ctx], axis=-1)
        ep = p["entropy_parameters"]
        names = sorted(ep, key=int)  # conv1x1, leaky_relu, conv1x1, leaky_relu, conv1x1
        for k, name in enumerate(names):
            x = x @ ep[name]["weight"][:, :, 0, 0].T + ep[name]["bias"]
            if k < len(names) - 1:
                x = jax.nn.leaky_relu(x, negative_slope=0.01)
        return buf, x

    def _ar_loop(self, hyper, code_front):
        """Visit fronts ``t = 3 i + j``; ``code_front(i, j, params) -> y_hat (P, M)`` codes one."""
        h, w, _ = hyper.shape
        fronts = []
        for t in range(3 * (h - 1) + w):
            i = np.arange(max(0, -(-(t - w + 1) // 3)), min(h - 1, t // 3) + 1)
            fronts.append((i, t - 3 * i))
        pmax = max(len(i) for i, _ in fronts)
        y_hat = np.zeros((h, w, self.M), np.float32)
        buf = jnp.zeros((h + 4, w + 4, self.M), jnp.float32)
        hyper = jnp.asarray(hyper)
        prev_pos = np.full((pmax, 2), h + 4, np.int32)
        prev_vals = np.zeros((pmax, self.M), np.float32)
        for i, j in fronts:
            pos = np.full((pmax, 2), h + 4, np.int32)
            pos[: len(i), 0], pos[: len(i), 1] = i, j
            buf, params = self._ar_step(self.variables, self._ctx_w, buf, hyper, prev_pos, prev_vals, pos)
            vals = code_front(i, j, np.asarray(params)[: len(i)])
            y_hat[i, j] = vals
            prev_pos, prev_vals = pos, np.zeros((pmax, self.M), np.float32)
            prev_vals[: len(i)] = vals
        return y_hat

    def _split_gmm(self, params):
        K = self.model.K
        P = params.shape[0]
        parts = np.split(params, 3, axis=-1)  # weight logits | means | scales, component-major
        return [a.reshape(P, K, self.M).transpose(0, 2, 1).reshape(P * self.M, K) for a in parts]

    # -- public API --------------------------------------------------------------------

    def compress(self, pixels, bit_depth: int = 8):
        """``(bytes, info)``; ``info``: ``x_hat`` (the decoder's output), ``y_hat``, ``z_hat``, ``bytes_by_part``."""
        if not 1 <= int(bit_depth) <= 16:
            raise ValueError(f"bit depth {bit_depth} not in 1..16")
        x = self._prepare(pixels)
        h, w = np.shape(pixels)[:2]
        channels = 1 if np.ndim(pixels) == 2 or np.shape(pixels)[2] == 1 else 3
        y, z = self._analysis(self.variables, jnp.asarray(x))
        y = np.asarray(y)[0]
        y_shape, z_shape = self.latent_shapes(h, w)
        assert y.shape == y_shape, (y.shape, y_shape)
        esc = EscapeWriter()
        enc_z, enc_y = _CQ.RangeEncoder(), _CQ.RangeEncoder()
        alphabet, z_hat = (0, 0), None
        bits_y = 0.0  # code length of the coded y under the coder's entropy parameters
        if self.kind == "factorized":
            y_hat = self._eb_encode(enc_y, esc, y)
        else:
            z_hat = self._eb_encode(enc_z, esc, np.asarray(z)[0])
            hyper = np.asarray(self._hyper(self.variables, jnp.asarray(z_hat[None])))[0]
            if self.kind in ("hyperprior", "meanscale"):
                if self.kind == "hyperprior":
                    scales, means = hyper, np.zeros_like(y)
                else:
                    scales, means = np.split(hyper, 2, axis=-1)
                q = np.round(y - means)
                self._gc.encode(enc_y, esc, build_indexes(scales), _to_int(q, "y"))
                bits_y += gaussian_bits(q, scales)
                y_hat = q + means
            elif self.head == "gaussian":

                def front(i, j, params):
                    nonlocal bits_y
                    scales, means = np.split(params, 2, axis=-1)
                    q = np.round(y[i, j] - means)
                    self._gc.encode(enc_y, esc, build_indexes(scales), _to_int(q, "y"))
                    bits_y += gaussian_bits(q, scales)
                    return q + means

                y_hat = self._ar_loop(hyper, front)
            else:
                yq = np.round(y)
                qi = _to_int(yq, "y")
                # At least two symbols: constriction cannot code from a one-symbol alphabet.
                alphabet = (int(qi.min()), max(int(qi.max()), int(qi.min()) + 1))
                if alphabet[1] - alphabet[0] >= 1 << 16:
                    raise ValueError(f"GMM latents span {alphabet}: too wide to code")
                fam = _CM.Categorical(perfect=False)

                def front(i, j, params):
                    nonlocal bits_y
                    pmf = gmm_pmf(*self._split_gmm(params), *alphabet)
                    sym = (qi[i, j].ravel() - alphabet[0]).astype(np.int32)
                    enc_y.encode(sym, fam, pmf)
                    bits_y += float(-np.log2(pmf[np.arange(sym.size), sym]).sum())
                    return yq[i, j]

                y_hat = self._ar_loop(hyper, front)
        header = Header(
            self.name,
            self.head,
            self.N,
            self.M,
            self.weights_id,
            int(h),
            int(w),
            channels,
            int(bit_depth),
            y_shape,
            z_shape,
            alphabet,
        )
        zw, yw, ew = enc_z.get_compressed(), enc_y.get_compressed(), esc.getvalue()
        data = pack(header, zw, yw, ew)
        info = {
            "x_hat": self._finish(np.asarray(y_hat, np.float32), h, w, channels),
            "y_hat": np.asarray(y_hat, np.float32),
            "z_hat": z_hat,
            "bytes_by_part": {
                "header": header_size(self.name),
                "z": 4 * zw.size,
                "y": 4 * yw.size,
                "escapes": len(ew),
            },
        }
        if self.kind != "factorized":  # (a factorized y is rounded and costed as in the forward)
            info["bits_y_coded"] = bits_y
        return data, info

    def read_header(self, data: bytes):
        """Parse and check that the stream fits this codec -> ``(header, z_words, y_words, escapes)``."""
        header, zw, yw, ew = unpack(data)
        mine = (self.name, self.head, self.N, self.M)
        theirs = (header.model, header.head, header.N, header.M)
        if mine != theirs:
            raise BitstreamError(
                f"stream is for {theirs[0]} (head {theirs[1]}, N={theirs[2]}, M={theirs[3]}), these weights are "
                f"{mine[0]} (head {mine[1]}, N={mine[2]}, M={mine[3]})"
            )
        if header.weights_id != self.weights_id:
            raise BitstreamError("stream was coded with other weights (weights fingerprint mismatch)")
        y_shape, z_shape = self.latent_shapes(header.height, header.width)
        if header.y_shape != y_shape or header.z_shape != z_shape:
            raise BitstreamError(f"latent shapes {header.y_shape}/{header.z_shape} do not fit the image size")
        if self.kind == "factorized" and zw.size:
            raise BitstreamError("factorized stream with a z section")
        if self.head != "gmm" and header.alphabet != (0, 0):
            raise BitstreamError("alphabet given for a non-GMM stream")
        if header.alphabet[1] - header.alphabet[0] >= 1 << 16:
            raise BitstreamError(f"GMM alphabet {header.alphabet} too wide")
        return header, zw, yw, ew

    def decompress(self, data: bytes):
        """``(pixels (H, W, C) float32 in [0, 1], header)``; raises :class:`BitstreamError`."""
        header, zw, yw, ew = self.read_header(data)
        try:
            return self._decode(header, zw, yw, ew), header
        except BitstreamError:
            raise
        except (ValueError, RuntimeError, OverflowError) as e:  # constriction errors on bad data
            raise BitstreamError(f"cannot decode the payload: {e}") from None

    def _decode(self, header, zw, yw, ew):
        esc = EscapeReader(ew)
        dec_y = _CQ.RangeDecoder(yw)
        y_shape = header.y_shape
        if self.kind == "factorized":
            y_hat = self._eb_decode(dec_y, esc, y_shape)
        else:
            z_hat = self._eb_decode(_CQ.RangeDecoder(zw), esc, header.z_shape)
            hyper = np.asarray(self._hyper(self.variables, jnp.asarray(z_hat[None])))[0]
            if self.kind in ("hyperprior", "meanscale"):
                if self.kind == "hyperprior":
                    scales, means = hyper, np.zeros(y_shape, np.float32)
                else:
                    scales, means = np.split(hyper, 2, axis=-1)
                y_hat = self._gc.decode(dec_y, esc, build_indexes(scales)).astype(np.float32) + means
            elif self.head == "gaussian":

                def front(i, j, params):
                    scales, means = np.split(params, 2, axis=-1)
                    return self._gc.decode(dec_y, esc, build_indexes(scales)).astype(np.float32) + means

                y_hat = self._ar_loop(hyper, front)
            else:
                lo, hi = header.alphabet
                fam = _CM.Categorical(perfect=False)

                def front(i, j, params):
                    pmf = gmm_pmf(*self._split_gmm(params), lo, hi)
                    sym = dec_y.decode(fam, pmf).astype(np.int64) + lo
                    return sym.reshape(len(i), self.M).astype(np.float32)

                y_hat = self._ar_loop(hyper, front)
        esc.finish()
        return self._finish(np.asarray(y_hat, np.float32), header.height, header.width, header.channels)

    def estimate(self, pixels) -> dict:
        """Model forward on the padded image: ``x_hat`` (cropped), ``bits_y``, ``bits_z`` (float64).

        For the Gaussian autoregressive models the forward's y context is ``round(y)`` (as
        CompressAI's), not the coded latents: :func:`coded_bits` is the code length of what
        ``compress`` writes."""
        h, w = np.shape(pixels)[:2]
        out = self._forward(self.variables, jnp.asarray(self._prepare(pixels)))
        bits = {f"bits_{k}": float(-np.log2(np.asarray(v, np.float64)).sum()) for k, v in out["likelihoods"].items()}
        bits.setdefault("bits_z", 0.0)
        return {"x_hat": np.asarray(out["x_hat"])[0, :h, :w], **bits}


def coded_bits(est: dict, info: dict) -> float:
    """-sum log2 likelihoods of what ``compress`` coded: z (and a factorized y) from the forward
    ``est``, which rounds them as the coder does; the y of the Gaussian and GMM heads from the
    coder's own entropy parameters (``info["bits_y_coded"]``)."""
    return est["bits_z"] + info.get("bits_y_coded", est["bits_y"])


def load_codec(ckpt: str | None = None, fixture: str | None = None, model: str | None = None) -> Codec:
    """A :class:`Codec` from a training folder (``ckpt``) or a CompressAI fixture ``.npz``.

    ``model``, when given, must match the weights' model. Raises ``FileNotFoundError``,
    ``KeyError`` or ``ValueError`` on bad input.
    """
    if (ckpt is None) == (fixture is None):
        raise ValueError("give exactly one of a checkpoint folder (--ckpt) or a fixture (--fixture)")
    if ckpt is not None:
        from .train import load_trained

        name, net, variables, _ = load_trained(ckpt)
    else:
        from .compressai_import import from_compressai
        from .parity import load_fixture

        name, kwargs, arrays = load_fixture(fixture)
        sd = {k[3:]: v for k, v in arrays.items() if k.startswith("sd/")}
        net, variables = from_compressai(name, sd, **kwargs)
    if model is not None and model != name:
        raise ValueError(f"the weights are for model {name}, not {model}")
    return Codec(name, net, variables)
