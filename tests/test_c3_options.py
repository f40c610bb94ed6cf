"""C3's recipe options: the fit-space folding, GELU / edge-padded synthesis on device and host,
their streams, and bad choices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from coolchic.coding import host_decoder
from coolchic.coding import image_codec as codec
from coolchic.coding.errors import BitstreamError
from coolchic.coding.records import Reader, Writer, read_config, write_config
from coolchic.config import ModelConfig, VideoConfig, causal_context
from coolchic.fitting.candidates import fit
from coolchic.fitting.recipes import coolchic_recipe
from coolchic.fitting.result import evaluate
from coolchic.model import tiling
from coolchic.model.arm import grid_distribution
from coolchic.model.fit_space import LOG_SCALE_SHIFT, to_model
from coolchic.model.image import decode_image, features, init_params
from coolchic.model.synthesis import synthesize
from coolchic.presets import get_preset

ARCH = dict(n_grids=4, context=causal_context(5), arm_hidden=(8, 8), synth_hidden=(8, 8))
C3 = ModelConfig(
    **ARCH, latent_gain=2.0, synth_activation="gelu", conv_activation=True, conv_padding="edge", parameterisation="c3"
)


def c3_params(config, h, w, seed=0):
    """C3-initialised networks, random latents and non-zero residual convs (the identity otherwise)."""
    rng = np.random.default_rng(seed)
    p = init_params(jax.random.PRNGKey(seed), config, h, w)
    p["latents"] = [jnp.asarray(rng.laplace(0, 1.5, g.shape).astype(np.float32)) for g in p["latents"]]
    c = config.out_channels
    p["synthesis"]["convs"] = [
        {"w": jnp.asarray(rng.normal(0, 0.2, (c, c, 3, 3)).astype(np.float32)), "b": jnp.full(c, 0.1)}
        for _ in range(config.synth_convs)
    ]
    return p


def test_c3_preset_carries_c3s_settings():
    config = get_preset("c3-kodak").config
    assert (config.latent_gain, config.synth_activation, config.conv_activation) == (2.0, "gelu", True)
    assert (config.conv_padding, config.parameterisation) == ("edge", "c3")


def test_folded_arm_gives_c3s_distribution():
    """The plain ARM on integer latents = C3's reading of the fitted ARM: latents times the step in,
    loc in those units, log-scale -0.5 * (raw + 8)."""
    params = c3_params(C3, 16, 20)
    model = to_model(params, C3)
    step = C3.latent_step
    for g in model["latents"]:
        q = jnp.round(g)
        raw_mu, raw_s = grid_distribution(params["arm"], q * step, C3)
        mu, log_scale = grid_distribution(model["arm"], q, C3)
        np.testing.assert_allclose(mu * step, raw_mu, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(log_scale + np.log(step), -0.5 * (raw_s + LOG_SCALE_SHIFT), rtol=1e-4, atol=1e-5)
        assert float(jnp.std(raw_mu)) > 1e-3  # C3's init: the output layer is not zero


def test_folded_synthesis_sees_latents_times_the_step():
    params = c3_params(C3, 16, 20, seed=1)
    model = to_model(params, C3)
    q = [jnp.round(g) for g in model["latents"]]
    f = features(model, [g * C3.latent_step for g in q], C3, 16, 20)
    ref = jnp.clip(synthesize(params["synthesis"], f, C3), 0.0, 1.0)
    np.testing.assert_allclose(np.asarray(decode_image(model, q, C3, 16, 20)), np.asarray(ref), atol=1e-5)


CONFIGS = {
    "relu-zero": ModelConfig(**ARCH),
    "gelu-edge-act": C3,
    "relu-edge-act": ModelConfig(**ARCH, conv_activation=True, conv_padding="edge"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_tiled_device_synthesis_equals_host(monkeypatch, name):
    """Row tiles with halos (edge rows copied at the image border) = the host decoder's whole-image
    numpy synthesis, and edge padding changes the result."""
    config = CONFIGS[name]
    h, w = 37, 29
    model = to_model(c3_params(config, h, w, seed=2), config)
    q = [jnp.round(g) for g in model["latents"]]
    host = host_decoder.reconstruct(model, [np.asarray(g) for g in q], config, h, w)
    monkeypatch.setattr(tiling, "TILE_POSITIONS", 5 * w)  # 5-row tiles and a remainder
    device = np.asarray(jax.jit(lambda m: decode_image(m, q, config, h, w))(model))
    np.testing.assert_allclose(device, host, atol=2e-5)
    if config.conv_padding == "edge":
        zero = ModelConfig(**{**ARCH, "synth_activation": config.synth_activation, "conv_activation": True})
        other = host_decoder.reconstruct(model, [np.asarray(g) for g in q], zero, h, w)
        assert np.abs(other - host)[..., 0].max() > 1e-3  # the border column differs
        np.testing.assert_allclose(other[..., 3:-3, 3:-3], host[..., 3:-3, 3:-3], atol=2e-5)


def test_c3_options_stream_round_trips(kodak_crop):
    """A C3-parameterised fit is folded for coding; the header carries the activation and padding."""
    x = kodak_crop(23, 24, 32)
    r = fit(x, C3, coolchic_recipe(30), 1e-3, progress=False)
    data, rep = codec.encode(r.params, C3, x, 8, 1e-3)
    rec, header, _ = codec.decode(data)
    np.testing.assert_array_equal(rec, rep["reconstruction"])
    cfg = header.config
    assert (cfg.synth_activation, cfg.conv_activation, cfg.conv_padding) == ("gelu", True, "edge")
    assert cfg.parameterisation == "plain"  # the stream holds folded, plain networks
    fitted = evaluate(r.params, C3, x)  # the fit-space model, before weight quantization
    psnr = -10 * np.log10(np.mean((rep["reconstruction"] - x) ** 2))
    assert abs(psnr - fitted["psnr"]) < 0.3


@pytest.mark.parametrize(
    "field,value,msg",
    [
        ("synth_activation", "tanh", "unknown synthesis activation"),
        ("conv_padding", "reflect", "unknown conv padding"),
        ("parameterisation", "haiku", "unknown parameterisation"),
    ],
)
def test_bad_choices_are_refused(field, value, msg):
    with pytest.raises(ValueError, match=msg):
        ModelConfig(**{field: value})


def test_videos_refuse_the_image_only_options():
    with pytest.raises(ValueError, match="ReLU synthesis"):
        VideoConfig(synth_activation="gelu")
    with pytest.raises(ValueError, match="parameterisation"):
        VideoConfig(parameterisation="c3")


def test_unknown_activation_byte_is_a_bitstream_error():
    streams = []
    for act in ("relu", "gelu"):
        w = Writer()
        write_config(w, ModelConfig(**ARCH, synth_activation=act))
        streams.append(bytearray(w.getvalue()))
    (i,) = [k for k, (a, b) in enumerate(zip(*streams)) if a != b]
    streams[1][i] = 7
    with pytest.raises(BitstreamError, match="synthesis activation"):
        read_config(Reader(bytes(streams[1])), ModelConfig, out_channels=3)
