"""Named configurations in one registry: an architecture and a default step budget."""

from __future__ import annotations

import dataclasses

from coolchic.config import CoolChic5Config, ModelConfig, causal_context
from coolchic.model.video import VideoConfig


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    config: ModelConfig
    steps: int
    description: str


def _c3(**arch) -> ModelConfig:
    """C3's Kodak recipe on the given widths: per-grid gains of 2, GELU synthesis with activations
    between edge-padded residual convs, and C3's parameterisation and initialisation for the fit.
    Kept on purpose: the integer bounded-ReLU ARM (exact fixed-point decoding; a float GELU ARM
    fitted no better) and power-of-two weight steps."""
    return ModelConfig(
        latent_gain=2.0,
        synth_activation="gelu",
        conv_activation=True,
        conv_padding="edge",
        parameterisation="c3",
        **arch,
    )


_C3 = _c3()  # 7 grids, 24-neighbour ARM 18-18, synthesis 18-18 + 2 residual convs

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("c3-kodak", _C3, 10_000, "C3's Kodak architecture (1770 MACs/pixel, C3 convention)"),
        Preset(
            "c3-kodak-24",
            _c3(arm_hidden=(24, 24), synth_hidden=(24, 24)),
            10_000,
            "C3's width-24 Kodak variant (2626 MACs/pixel)",
        ),
        Preset(
            "mac-500",
            _c3(context=causal_context(5), arm_hidden=(8, 8), synth_hidden=(8,)),
            10_000,
            "~500 MACs/pixel: 12-neighbour ARM 8-8, synthesis 8",
        ),
        Preset(
            "mac-1000",
            _c3(context=causal_context(5), arm_hidden=(12, 12), synth_hidden=(16, 16)),
            10_000,
            "~1000 MACs/pixel: 12-neighbour ARM 12-12, synthesis 16-16",
        ),
        Preset(
            "mac-2000",
            _c3(arm_hidden=(20, 20), synth_hidden=(20, 20)),
            10_000,
            "~2000 MACs/pixel: 24-neighbour ARM 20-20, synthesis 20-20",
        ),
        Preset(
            "mac-3000",
            _c3(arm_hidden=(24, 24), synth_hidden=(30, 30)),
            10_000,
            "~3000 MACs/pixel: 24-neighbour ARM 24-24, synthesis 30-30",
        ),
        Preset(
            "coolchic",
            ModelConfig(upsampling="learned"),
            10_000,
            "C3's Kodak widths with Cool-chic's learned bicubic-initialised upsampling",
        ),
        # Cool-chic 5.0.1's intra decoders (cfg/dec/intra/*.cfg): context pixels, IFCE features,
        # synthesis width and convs; 7 latent + 3 hyperlatent grids (its choice below 1M pixels).
        *[
            Preset(
                f"cc5-{name}",
                CoolChic5Config(arm_context=ctx, ifce_features=f, synth_hidden=(width,), synth_convs=convs),
                10_000,
                f"Cool-chic 5's {name} decoder (cfg/dec/intra/{name}.cfg)",
            )
            for name, ctx, f, width, convs in [
                ("lop", 6, 2, 8, 1),
                ("mop", 10, 4, 16, 2),
                ("hop", 14, 6, 48, 2),
                ("vhop", 20, 6, 64, 2),
            ]
        ],
        # Step budgets on C3's Kodak architecture.
        Preset("fast", _C3, 2_000, "c3-kodak, 2k steps (seconds on a GPU, minutes on a CPU)"),
        Preset("medium", _C3, 10_000, "c3-kodak, 10k steps"),
        Preset("slow", _C3, 40_000, "c3-kodak, 40k steps"),
        Preset("paper", _C3, 110_000, "c3-kodak, C3's 100k + 10k steps"),
        # Videos (C3 video model; patches fitted independently).
        Preset(
            "c3-uvg",
            VideoConfig(context=causal_context(9), prev_window=(9, 9), patch=(30, 180, 240)),
            110_000,
            "C3's UVG configuration: 3x9x9 causal context (121), ARM 16-16, synthesis 32-32, 3D convs "
            "(4418 MACs/pixel, C3 convention)",
        ),
        Preset(
            "c3-video",
            VideoConfig(patch=(16, 0, 0)),
            20_000,
            "24 causal neighbours + a 4x4 previous-frame window at a per-grid offset, ARM 16-16, synthesis "
            "32-32, 3D convs; 16-frame patches (2937 MACs/pixel)",
        ),
        Preset(
            "video-fast",
            VideoConfig(
                n_grids=5,
                context=causal_context(5),
                prev_window=(3, 3),
                arm_hidden=(8, 8),
                synth_hidden=(12,),
                conv3d=False,
                patch=(8, 0, 0),
            ),
            2_000,
            "small and quick: 12 neighbours + 3x3 previous-frame window, ARM 8-8, synthesis 12, per-frame convs",
        ),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]
