"""Cool-chic 5's decoder: upsampling against its definition, grid order, MACs, header, exact coding."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import decode_in_fresh_process

from coolchic.coding import coolchic5_latents as c5l
from coolchic.coding import image_codec as codec
from coolchic.coding.errors import BitstreamError
from coolchic.coding.image_format import Header, read_header, write_header
from coolchic.coding.latent_coding import contexts
from coolchic.coding.records import Reader, Writer
from coolchic.coding.weights import MODULES, GroupCode
from coolchic.config import CoolChic5Config
from coolchic.fitting import get_recipe
from coolchic.fitting.candidates import fit
from coolchic.model import coolchic5, model_for
from coolchic.model.arm import gather_context, pad_grid
from coolchic.model.laplace import LOG_SCALE_MAX, LOG_SCALE_MIN
from coolchic.model.macs import macs_per_pixel
from coolchic.model.upsampling import phase_filter_axis
from coolchic.presets import get_preset

LOP = get_preset("cc5-lop").config


def conv_transpose_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cool-chic 5's 2x upsampling along the last axis, written from its definition: replicate-pad
    by k/2, transposed conv of stride 2 (y[2i + j] += x[i] w[j]), crop k - 1 + k/2 from each side."""
    k = len(w)
    p0, crop = k // 2, k - 1 + k // 2
    xp = np.concatenate([np.repeat(x[..., :1], p0, -1), x, np.repeat(x[..., -1:], p0, -1)], -1)
    y = np.zeros((*x.shape[:-1], 2 * (xp.shape[-1] - 1) + k))
    for i in range(xp.shape[-1]):
        y[..., 2 * i : 2 * i + k] += xp[..., i : i + 1] * w
    return y[..., crop : y.shape[-1] - crop]


@pytest.mark.parametrize("taps", [4, 8])
def test_transposed_conv_is_cool_chics_padded_conv_transpose(taps):
    rng = np.random.default_rng(taps)
    half = rng.normal(size=taps // 2).astype(np.float32)
    x = rng.normal(size=(2, 5, 7)).astype(np.float32)
    k = coolchic5.tconv_phases(jnp.asarray(half), taps)
    ours = phase_filter_axis(phase_filter_axis(jnp.asarray(x), k, 1), k, 2)
    w = np.concatenate([half, half[::-1]])
    ref = np.swapaxes(conv_transpose_reference(np.swapaxes(conv_transpose_reference(x, w), 1, 2), w), 1, 2)
    np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-5)


def test_bicubic_init_interpolates_smooth_signals_and_preconcat_starts_at_twice_the_grid():
    up = coolchic5.init_upsampling(LOP)
    k = coolchic5.tconv_phases(up["kernels"][0], 8)
    ramp = jnp.arange(12.0)[None, None, :]
    out = np.asarray(phase_filter_axis(ramp, k, 2))[0, 0]
    np.testing.assert_allclose(out[4:-4:2] + out[5:-4:2], np.arange(2, 10) * 2, atol=1e-5)  # mirrored phases
    np.testing.assert_allclose(out[4:-4:2], np.arange(2, 10) - 0.296875, atol=1e-5)  # bicubic, a = -0.75
    np.testing.assert_allclose(np.asarray(phase_filter_axis(jnp.ones((1, 3, 5)), k, 2)), 1.0, atol=1e-6)
    g = jnp.asarray(np.random.default_rng(0).normal(size=(5, 6)), jnp.float32)
    np.testing.assert_allclose(np.asarray(coolchic5.preconcat_filter(up["preconcat"][0], g, 7)), 2 * g, atol=1e-6)
    half = np.random.default_rng(1).normal(size=4)
    w = np.concatenate([half, half[-2::-1]])
    gp = np.pad(np.asarray(g, np.float64), 3)
    ref = np.asarray(g) + sum(w[a] * w[b] * gp[a : a + 5, b : b + 6] for a in range(7) for b in range(7))
    np.testing.assert_allclose(np.asarray(coolchic5.preconcat_filter(jnp.asarray(half), g, 7)), ref, atol=1e-4)


def test_entropy_order_and_ifce_inputs_of_hop():
    c = CoolChic5Config()
    assert [coolchic5.levels(c)[i] for i in coolchic5.entropy_order(c)] == [0, 1, 2, 3, 4, 4, 5, 5, 6, 6]
    assert coolchic5.entropy_order(c)[4:6] == (4, 7)  # the latent before the hyperlatent
    shapes = coolchic5.grid_shapes(c, 250, 130)
    assert shapes[0] == (250, 130) and shapes[6] == (4, 3) and shapes[7:] == [(16, 9), (8, 5), (4, 3)]
    grids = [jnp.full(s, float(i)) for i, s in enumerate(shapes)]
    x = coolchic5.ifce_inputs(grids, c, 0)
    assert x.shape == (9, 125, 65)
    assert [float(v) for v in x[:, 0, 0]] == [float(i) for i in coolchic5.entropy_order(c)[1:]]


@pytest.mark.parametrize(
    "name,total", [("cc5-lop", 483.79), ("cc5-mop", 1038.59), ("cc5-hop", 1945.11), ("cc5-vhop", 2876.02)]
)
def test_macs_are_cool_chics_count_on_256x256(name, total):
    """Cool-chic 5.0.1 writes these totals (`Total MAC / decoded pixel`) for its four configurations."""
    m = macs_per_pixel(get_preset(name).config, 256, 256)
    assert m["total"] == pytest.approx(total, abs=0.006)
    if name == "cc5-hop":
        want = {"arm": 1177.77, "ifce": 17.16, "upsampling": 67.76, "synthesis": 672.0, "nearest": 10.42}
        assert {k: round(m[k], 2) for k in want} == want
    with pytest.raises(ValueError, match="convention"):
        macs_per_pixel(get_preset(name).config, 256, 256, "c3")


def test_header_round_trip_and_bad_architectures():
    c = dataclasses.replace(get_preset("cc5-vhop").config, hyper_levels=(3, 5), ifce_grids=2)
    steps = {m: (8, 10) for m in MODULES}
    codes = {m: [GroupCode(40, 3.5), GroupCode(0, 0.0)] for m in MODULES}
    w = Writer()
    write_header(w, Header(40, 24, 3, 8, c, steps, codes))
    data = w.getvalue()
    back = read_header(Reader(data))
    assert back.config == c and type(back.config) is CoolChic5Config
    assert data[9] == 0 and data[10] == 1  # colour byte: RGB; family byte: Cool-chic 5
    i = 11 + 1  # after the family and n_grids: the hyperlatent level count, then the levels
    assert list(data[i : i + 3]) == [2, 3, 5]
    for bad, msg in [((2, 3, 3), "hyperlatent levels"), ((2, 5, 3), "hyperlatent levels"), ((9,), "of them")]:
        corrupt = data[:i] + bytes(bad) + data[i + 3 :]
        with pytest.raises(BitstreamError, match=msg):
            read_header(Reader(corrupt))
    with pytest.raises(ValueError, match="hyper_levels"):
        CoolChic5Config(hyper_levels=(5, 4))
    with pytest.raises(ValueError, match="arm_context"):
        CoolChic5Config(arm_context=41)


def random_model(config, h, w, seed=0):
    """A non-trivial quantizable model without fitting: random latents, ARM, IFCE and synthesis."""
    rng = np.random.default_rng(seed)
    p = coolchic5.init_params(jax.random.PRNGKey(seed), config, h, w)
    p["latents"] = [jnp.asarray(np.round(rng.laplace(0, 1.5, g.shape)), jnp.float32) for g in p["latents"]]

    def noisy(tree, scale):
        return jax.tree.map(lambda a: jnp.asarray(a + rng.normal(0, scale, a.shape), jnp.float32), tree)

    p["arm"] = noisy(p["arm"], 0.05)
    p["arm"]["layers"][-1]["b"] = jnp.array([0.0, 4.5])  # scales near the latents' (far from the floors)
    p["synthesis"] = noisy(p["synthesis"], 0.05)
    return p


@pytest.fixture(scope="module")
def fitted_odd(kodak_crop):
    """cc5-lop fitted by the C3 recipe (recipes and architectures are independent) on a 37x41 crop."""
    x = kodak_crop(1, 37, 41)
    r = fit(x, LOP, get_recipe("c3", 150), 1e-2, progress=False)
    return x, r.params


def test_fixed_point_arm_is_the_float_arm():
    """Per latent, the integer ARM (IFCE, residual layers, stabiliser) gives the float ARM's mu and
    log-scale to within its 2^-8 output step, on every latent and hyperlatent grid."""
    p = random_model(LOP, 37, 29)
    arm = jax.tree.map(lambda a: jnp.round(a * 2**12) / 2**12, p["arm"])  # a quantized ARM
    fixed = c5l.arm_to_fixed(arm, LOP)
    grids = [np.asarray(g, np.float64) for g in p["latents"]]
    feats = coolchic5.ifce_features(arm, p["latents"], LOP)
    for e, g in enumerate(coolchic5.entropy_order(LOP)):
        h, w = grids[g].shape
        ctx = gather_context(pad_grid(p["latents"][g], LOP), LOP, h, w)
        mu, ls = np.asarray(coolchic5.arm_forward(arm, jnp.concatenate([ctx, feats[g].reshape(-1, h * w)])))
        size, layout, pos, _, offsets, gid = c5l._grid_plan((h, w), LOP)
        flat = np.zeros(size)
        c5l._view(flat, layout, (h, w))[...] = grids[g]
        f = c5l.ifce_fixed(fixed, grids, LOP, e) if e < LOP.ifce_grids else None
        x = contexts(flat, pos, offsets, gid, c5l._extra(size, layout, f, LOP))
        mu_i, ls_i = c5l.fixed_forward(fixed, x)
        where = np.full(size, -1)
        c5l._view(where, layout, (h, w))[...] = np.arange(h * w).reshape(h, w)
        raster = where[pos]
        np.testing.assert_allclose(mu_i / 256, mu[raster], atol=2**-7)
        np.testing.assert_allclose(ls_i / 256, np.clip(ls[raster], LOG_SCALE_MIN, LOG_SCALE_MAX), atol=2**-7)


def test_odd_size_round_trip_is_bit_exact_in_a_fresh_process(fitted_odd, tmp_path):
    x, params = fitted_odd
    data, rep = codec.encode(params, LOP, x, 8, 1e-2)
    rec, header, _ = codec.decode(data)
    assert header.config == LOP and rec.shape == x.shape
    np.testing.assert_array_equal(rec, rep["reconstruction"])
    assert abs(rep["bpp"] - rep["bpp_estimated"]) < 64 / x[0].size + 0.01 * rep["bpp_estimated"]
    psnr = -10 * np.log10(np.mean((rec - x) ** 2))
    assert psnr > 20  # a real reconstruction
    f = tmp_path / "a.cool"
    f.write_bytes(data)
    np.testing.assert_array_equal(decode_in_fresh_process(f), rec)


def test_gray_round_trip_is_bit_exact():
    c = dataclasses.replace(LOP, out_channels=1)
    p = random_model(c, 19, 24, seed=3)
    x = np.random.default_rng(0).uniform(size=(1, 19, 24)).astype(np.float32)
    data, rep = codec.encode(p, c, x, 8, 1e-2)
    rec, header, _ = codec.decode(data)
    assert header.channels == 1 and header.config == c
    np.testing.assert_array_equal(rec, rep["reconstruction"])


def test_the_model_contract_is_registered():
    assert model_for(LOP) is coolchic5.COOLCHIC5_MODEL
    p = random_model(LOP, 20, 18)
    mse, bits = coolchic5.rd_terms(p, p["latents"], LOP, jnp.full((3, 20, 18), 0.5))
    assert 0 < float(mse) < 1 and float(bits) > 0
    g = jax.grad(lambda q: sum(coolchic5.rd_terms(q, q["latents"], LOP, jnp.full((3, 20, 18), 0.5))))(p)
    up = g["upsampling"]
    assert float(jnp.abs(up["kernels"][0]).sum()) > 0 and float(jnp.abs(up["preconcat"][0]).sum()) > 0


@pytest.mark.slow
def test_hop_fits_with_its_own_recipe(kodak_crop):
    x = kodak_crop(23, 32, 32)
    c = get_preset("cc5-hop").config
    r = fit(x, c, get_recipe("coolchic5", 2000, lmbda=1e-2), 1e-2, progress=False)
    data, rep = codec.encode(r.params, c, x, 8, 1e-2)
    np.testing.assert_array_equal(codec.decode(data)[0], rep["reconstruction"])
    assert -10 * np.log10(np.mean((rep["reconstruction"] - x) ** 2)) > 25


def test_auto_depth_and_gain_follow_the_image_size_and_lambda_as_cool_chic_5():
    hop = get_preset("cc5-hop").config
    assert hop.for_image(3, 512, 768) == hop  # Kodak: 1/64 is the coarsest grid
    big = hop.for_image(3, 1024, 1024)  # 1M pixels: down to 1/128
    assert (big.n_grids, big.hyper_levels) == (8, (4, 5, 6, 7))
    huge = hop.for_image(1, 2000, 1600)
    assert (huge.n_grids, huge.hyper_levels, huge.out_channels) == (9, (4, 5, 6, 7, 8), 1)
    gains = [round(1 / hop.for_image(3, 64, 64, lm).latent_step) for lm in (1e-3, 5e-4, 4.9e-4, 2e-4, 1e-4)]
    assert gains == [16, 16, 20, 20, 24]
    fixed = dataclasses.replace(hop, auto=False, n_grids=5, hyper_levels=(3,))
    assert fixed.for_image(3, 2000, 1600, 1e-4) == dataclasses.replace(fixed, out_channels=3)
    w = Writer()
    codes = {m: [GroupCode(1, 1.0), GroupCode(0, 1.0)] for m in MODULES}
    write_header(w, Header(2000, 1600, 1, 8, huge, {m: (8, 8) for m in MODULES}, codes))
    assert read_header(Reader(w.getvalue())).config == huge
