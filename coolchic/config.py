"""Architecture of an overfitted codec: one frozen, hashable value that the model is built from."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

COLOURS = ("rgb", "yuv444", "yuv420")  # decoder output formats (coolchic.model.colour)


def causal_context(size: int) -> tuple[tuple[int, int], ...]:
    """Offsets (dy, dx) of the causal half of a size x size mask, raster order.

    size=7 gives C3's 24 neighbours, 5 gives 12, 3 gives 4. Every offset is strictly before the
    current latent in raster order, which is what makes the ARM decodable.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"context size must be odd and >= 3, got {size}")
    r = size // 2
    return tuple((dy, dx) for dy in range(-r, 1) for dx in range(-r, r + 1) if dy < 0 or dx < 0)


# ----------------------------------------------------------------------------- stream records
# How a stream header stores an architecture field: plain descriptions that coolchic.coding.records
# writes, reads and checks (docs/bitstream.md has the byte tables), so this module imports nothing
# of the coding. Each config class lists in RECORD, in byte order, the fields its header carries:
# an architecture field that streams must carry is its declaration plus one RECORD entry (and a
# new format version, since the layout changes).


class U8(NamedTuple):
    """One byte holding the value, which must be in `allowed`."""

    what: str  # names the field in error messages
    allowed: range | tuple


class Choice(NamedTuple):
    """One byte: the index of the (string) value in `names`."""

    what: str
    names: tuple


class Flag(NamedTuple):
    """One byte, 0 or 1: a bool."""

    what: str


class Offsets(NamedTuple):
    """A count byte in [1, max_count], then (i8 dy, i8 dx) per offset: causal, distinct, |d| <= reach.
    Or (from image format 2 and video format 2 on) the short form of causal_context(size): 0, size."""

    what: str
    max_count: int
    reach: int


class Widths(NamedTuple):
    """A count byte <= max_count, then one u16 per width, each in [1, max_width]."""

    what: str
    max_count: int
    max_width: int


class UInts(NamedTuple):
    """A fixed number of unsigned integers of `size` bytes (1 or 4) each; the config checks them."""

    what: str
    count: int
    size: int


# fields stored the same way by the image and the video headers
_GRIDS = U8("grid count", range(1, 13))
_CONTEXT = Offsets("ARM context", max_count=64, reach=7)
_ARM = Widths("ARM", max_count=8, max_width=256)
_SYNTH = Widths("synthesis", max_count=8, max_width=256)
_CONVS = U8("synthesis conv count", range(9))
_ACTIVATION = Choice("synthesis activation", ("relu", "gelu"))
_PADDING = Choice("conv padding", ("zero", "edge"))
PARAMETERISATIONS = ("plain", "c3")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the shapes of a codec's parameters.

    n_grids: latent grids at full, 1/2, ..., 1/2^(n_grids-1) resolution (ceil division).
    context: ARM causal neighbours as (dy, dx) offsets; arm_hidden: ARM hidden widths.
    upsampling: "bilinear" (C3: each grid interpolated straight to full resolution) or
        "learned" (Cool-chic: cascade of 2x transposed convs, bicubic-initialised, one per level).
    synth_hidden: widths of the per-pixel MLP; synth_convs: residual 3x3 convs on the output.
    latent_step: latent parameters are stored in units of this step (C3 uses 0.4): with Adam, a
        smaller step moves the quantized latents faster. Only the fit sees it; streams hold integers.
    latent_gain: grid i is stored in units of latent_step / latent_gain^i (C3's and Cool-chic's
        `add_gains`: 2, so grid i's parameter is multiplied by 2^i before quantization): under Adam
        the coarse grids then move up to 2^(n_grids-1) times faster in quantized units. Fit only.
    synth_activation: "relu" or "gelu" (C3, tanh form) between the synthesis MLP's layers;
        conv_activation: the same activation between residual convs (C3: yes);
        conv_padding: "zero" or "edge" (C3: the residual convs replicate the border pixels).
    parameterisation: how the fit stores the networks. "plain": as the stream holds them.
        "c3": as C3 does (see coolchic.model.fit_space): the networks see latents in units of
        latent_step, the ARM's log-scale is -0.5 * (raw + 8), C3's initialisation, and the
        training output is clipped to [0, 1]. Folded into plain weights for coding. Fit only.
    colour: the decoder's output format (coolchic.model.colour): "rgb" (RGB, or gray with one
        channel), "yuv444" or "yuv420" (chroma averaged over 2x2 blocks, Cool-chic 5's 4:2:0).
        The header stores it beside the channel count; for_image's caller sets it from the input.
    output_range: per channel (low, high) of a fixed affine map low + (high - low) * x of the
        synthesis output (Cool-chic 5's YUV output transform: the net works in [0, 1] whatever
        each plane's range); () for none. YUV only; set from the input's plane minima and maxima
        (coolchic.api.image.image_config), stored in the header as samples of its bit depth.
    """

    n_grids: int = 7
    context: tuple[tuple[int, int], ...] = causal_context(7)
    arm_hidden: tuple[int, ...] = (18, 18)
    upsampling: str = "bilinear"
    upsampling_taps: int = 8
    synth_hidden: tuple[int, ...] = (18, 18)
    synth_convs: int = 2
    out_channels: int = 3
    latent_step: float = 0.4  # training parameterisation: quantized latent = round(param / step)
    latent_gain: float = 1.0  # grid i: quantized latent = round(param * latent_gain^i / latent_step)
    synth_activation: str = "relu"
    conv_activation: bool = False
    conv_padding: str = "zero"
    parameterisation: str = "plain"
    colour: str = "rgb"
    output_range: tuple[tuple[float, float], ...] = ()

    is_video: ClassVar[bool] = False  # VideoConfig: True
    RECORD: ClassVar[tuple] = (  # the .cool image header's architecture, in byte order
        ("n_grids", _GRIDS),
        ("context", _CONTEXT),
        ("arm_hidden", _ARM),
        ("upsampling", Choice("upsampling kind", ("bilinear", "learned"))),
        ("upsampling_taps", U8("upsampling taps", (2, 4, 6, 8, 10, 12))),
        ("synth_hidden", _SYNTH),
        ("synth_convs", _CONVS),
        ("synth_activation", _ACTIVATION),  # from format version 2 on
        ("conv_activation", Flag("conv activation flag")),
        ("conv_padding", _PADDING),
    )

    def __post_init__(self):
        if self.synth_activation not in _ACTIVATION.names:
            raise ValueError(f"unknown synthesis activation {self.synth_activation!r}")
        if self.conv_padding not in _PADDING.names:
            raise ValueError(f"unknown conv padding {self.conv_padding!r}")
        if self.parameterisation not in PARAMETERISATIONS:
            raise ValueError(f"unknown parameterisation {self.parameterisation!r}")
        if not 1 <= self.n_grids <= 12:
            raise ValueError(f"n_grids must be in [1, 12], got {self.n_grids}")
        if self.upsampling not in ("bilinear", "learned"):
            raise ValueError(f"unknown upsampling {self.upsampling!r}")
        if any(dy > 0 or (dy == 0 and dx >= 0) for dy, dx in self.context):
            raise ValueError("ARM context must be strictly causal (dy < 0, or dy == 0 and dx < 0)")
        if self.out_channels not in (1, 3):
            raise ValueError("out_channels must be 1 (gray) or 3 (RGB)")
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour format {self.colour!r} (expected one of {', '.join(COLOURS)})")
        if self.colour != "rgb" and self.out_channels != 3:
            raise ValueError(f"colour format {self.colour} has 3 channels")
        if self.output_range and (
            self.colour == "rgb"
            or len(self.output_range) != self.out_channels
            or not all(0.0 <= lo <= hi <= 1.0 for lo, hi in self.output_range)
        ):
            raise ValueError(
                f"output_range must be one 0 <= low <= high <= 1 pair per YUV channel, got {self.output_range}"
            )

    @property
    def clip_in_training(self) -> bool:
        """Whether the training loss sees the output clipped to [0, 1], as the decoder does
        (C3 and Cool-chic 5 train so: overshooting a saturated pixel then costs nothing)."""
        return self.parameterisation == "c3"

    @property
    def n_context(self) -> int:
        """ARM inputs per latent."""
        return len(self.context)

    @property
    def context_pad(self) -> tuple[int, int, int]:
        """Padding (top, left, right) a grid needs so every context offset is in range."""
        top = max([-dy for dy, _ in self.context] + [0])
        left = max([-dx for _, dx in self.context] + [0])
        right = max([dx for _, dx in self.context] + [0])
        return top, left, right

    def with_channels(self, channels: int) -> ModelConfig:
        return dataclasses.replace(self, out_channels=channels)

    def for_image(self, channels: int, height: int, width: int, lmbda: float | None = None) -> ModelConfig:
        """The configuration an encoder fits to an image of this size at this lambda (channels
        here; a family may also adapt its grids or latent gain)."""
        return self.with_channels(channels)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["context"] = [list(c) for c in self.context]
        d["arm_hidden"] = list(self.arm_hidden)
        d["synth_hidden"] = list(self.synth_hidden)
        d["output_range"] = [list(p) for p in self.output_range]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        d = dict(d)
        d["context"] = tuple(tuple(int(v) for v in c) for c in d["context"])
        d["arm_hidden"] = tuple(int(v) for v in d["arm_hidden"])
        d["synth_hidden"] = tuple(int(v) for v in d["synth_hidden"])
        d["output_range"] = tuple(tuple(float(v) for v in p) for p in d.get("output_range", ()))
        return cls(**d)

    def scale_latents(self, latents: list) -> list:
        """Latent parameters in quantization units (what quantizers, ARM and synthesis see)."""
        if self.latent_step == 1.0 and self.latent_gain == 1.0:
            return latents
        return [g / (self.latent_step / self.latent_gain**i) for i, g in enumerate(latents)]


# Cool-chic 5's ARM context: the 40 causal positions of a 9 x 9 window in its priority order
# (coolchic/component/core/arm.py); an ARM with S context pixels reads the first S.
PRIORITY_CONTEXT = (
    (0, -1), (-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-3, 0), (0, -3),
    (-1, -2), (-2, 1), (-2, -1), (-1, 2), (-2, -2), (-1, -3), (-2, 2), (-3, 1),
    (0, -4), (-1, 3), (-2, -3), (-2, 3), (-3, -1), (-3, -2), (-3, 2), (-4, 0),
    (-1, -4), (-4, -1), (-1, 4), (-2, 4), (-3, -3), (-3, 3), (-4, -2), (-4, 1),
    (-2, -4), (-3, -4), (-3, 4), (-4, -3), (-4, 2), (-4, 3), (-4, -4), (-4, 4),
)  # fmt: skip


class Levels(NamedTuple):
    """A count byte <= max_count, then one u8 per level, increasing, each in [1, max_level]."""

    what: str
    max_count: int
    max_level: int


@dataclasses.dataclass(frozen=True)
class CoolChic5Config(ModelConfig):
    """Cool-chic 5's intra decoder (coolchic.model.coolchic5). Defaults: its `hop` configuration.

    n_grids latent grids (1/1 ... 1/2^(n-1)) feed the upsampling and the synthesis; hyper_levels
    add one hyperlatent grid at 1/2^l each, read only by the entropy model. One ARM for all grids:
    its input is the first arm_context positions of PRIORITY_CONTEXT plus ifce_features
    inter-feature contexts (a linear layer per grid over the already decoded coarser grids, for
    the ifce_grids finest grids in coding order; zeros for the others); arm_layers residual ReLU
    layers of that width, a linear output and a linear stabiliser from the input to the output.
    Upsampling: per level a symmetric separable transposed conv (upsampling_taps, bicubic init,
    edge padding) and a symmetric pre-concatenation residual filter (preconcat_taps, zero
    padding, Dirac init). Synthesis: the per-pixel MLP synth_hidden -> out_channels with a linear
    stabiliser from the features to the output, then synth_convs residual 3x3 convs with edge
    padding and ReLU between them. latent_step = 1 / Cool-chic's latent gain (16).
    `context` and `arm_hidden` follow from arm_context, ifce_features and arm_layers; with
    `auto`, for_image sets n_grids and hyper_levels from the image size and latent_step from
    lambda (encoder choices: the header stores the grids themselves).
    """

    n_grids: int = 7
    hyper_levels: tuple[int, ...] = (4, 5, 6)
    arm_context: int = 14
    arm_layers: int = 2
    ifce_features: int = 6
    ifce_grids: int = 3
    upsampling: str = "learned"
    upsampling_taps: int = 8
    preconcat_taps: int = 7
    synth_hidden: tuple[int, ...] = (48,)
    synth_convs: int = 2
    latent_step: float = 1.0 / 16
    conv_activation: bool = True
    conv_padding: str = "edge"
    auto: bool = True  # for_image picks the grids and the latent gain (encoder choices, not in the header)

    RECORD: ClassVar[tuple] = (  # the .cool image header's architecture (format 3, family 1)
        ("n_grids", _GRIDS),
        ("hyper_levels", Levels("hyperlatent levels", max_count=8, max_level=11)),
        ("arm_context", U8("ARM context size", range(1, len(PRIORITY_CONTEXT) + 1))),
        ("arm_layers", U8("ARM layer count", range(9))),
        ("ifce_features", U8("IFCE feature count", range(33))),
        ("ifce_grids", U8("IFCE grid count", range(13))),
        ("upsampling_taps", U8("upsampling taps", (2, 4, 6, 8, 10, 12))),
        ("preconcat_taps", U8("pre-concatenation taps", (1, 3, 5, 7, 9, 11))),
        ("synth_hidden", _SYNTH),
        ("synth_convs", _CONVS),
    )

    def __post_init__(self):
        if not 1 <= self.arm_context <= len(PRIORITY_CONTEXT):
            raise ValueError(f"arm_context must be in [1, {len(PRIORITY_CONTEXT)}], got {self.arm_context}")
        width = self.arm_context + self.ifce_features
        object.__setattr__(self, "context", PRIORITY_CONTEXT[: self.arm_context])
        object.__setattr__(self, "arm_hidden", (width,) * self.arm_layers)
        object.__setattr__(self, "hyper_levels", tuple(int(v) for v in self.hyper_levels))
        super().__post_init__()
        fixed = dict(upsampling="learned", synth_activation="relu", conv_padding="edge", conv_activation=True)
        fixed.update(parameterisation="plain", latent_gain=1.0)
        for name, value in fixed.items():
            if getattr(self, name) != value:
                raise ValueError(f"Cool-chic 5 models have {name}={value!r}")
        if list(self.hyper_levels) != sorted(set(self.hyper_levels)) or not all(
            1 <= v <= 11 for v in self.hyper_levels
        ):
            raise ValueError(f"hyper_levels must be increasing levels in [1, 11], got {self.hyper_levels}")
        if self.n_grids + len(self.hyper_levels) > 16:
            raise ValueError("at most 16 latent and hyperlatent grids")
        if not 0 <= self.ifce_grids <= self.n_grids + len(self.hyper_levels):
            raise ValueError(f"ifce_grids must be in [0, {self.n_grids + len(self.hyper_levels)}]")
        if self.upsampling_taps % 2 or self.preconcat_taps % 2 == 0:
            raise ValueError("upsampling_taps must be even and preconcat_taps odd")
        if self.synth_convs < 1:
            raise ValueError("Cool-chic 5 synthesis has at least one residual conv")

    def for_image(self, channels: int, height: int, width: int, lmbda: float | None = None) -> CoolChic5Config:
        """With `auto`, Cool-chic 5's encoder choices: its `auto` latent and hyperlatent
        resolutions (the coarsest grid at 1/64 below 1M pixels, 1/128 below 3M, 1/256 above;
        hyperlatents from 1/16 down) and, given lambda, its latent gain (16; 20 below lambda
        5e-4, 24 below 2e-4)."""
        config = self.with_channels(channels)
        if not self.auto:
            return config
        pixels = height * width
        deepest = 6 if pixels < 1_000_000 else 7 if pixels < 3_000_000 else 8
        config = dataclasses.replace(config, n_grids=deepest + 1, hyper_levels=tuple(range(4, deepest + 1)))
        if lmbda is not None:
            gain = 24 if lmbda < 2e-4 else 20 if lmbda < 5e-4 else 16
            config = dataclasses.replace(config, latent_step=1.0 / gain)
        return config

    @property
    def clip_in_training(self) -> bool:
        return True  # its frame decoder clamps to [0, 1] in training too

    @property
    def n_latent_grids(self) -> int:
        """Latent plus hyperlatent grids: the length of params["latents"]."""
        return self.n_grids + len(self.hyper_levels)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["hyper_levels"] = list(self.hyper_levels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CoolChic5Config:
        d = dict(d)
        d["hyper_levels"] = tuple(int(v) for v in d["hyper_levels"])
        return super().from_dict(d)


@dataclasses.dataclass(frozen=True)
class VideoConfig(ModelConfig):
    """A ModelConfig for videos. Extra fields:

    prev_window: (kh, kw) window of the previous latent frame in the ARM context ((0, 0): none).
    prev_offsets: per-grid (oy, ox) displacement of that window's centre; () means all zero.
    conv3d: residual convs are 3x3x3 over (T, H, W) (C3's default) or 3x3 per frame.
    patch: (frames, height, width) of the spatio-temporal patches fitted independently
        (0 = the whole dimension).
    """

    n_grids: int = 6
    context: tuple[tuple[int, int], ...] = causal_context(7)
    arm_hidden: tuple[int, ...] = (16, 16)
    synth_hidden: tuple[int, ...] = (32, 32)
    prev_window: tuple[int, int] = (4, 4)
    prev_offsets: tuple[tuple[int, int], ...] = ()
    conv3d: bool = True
    patch: tuple[int, int, int] = (0, 0, 0)

    is_video: ClassVar[bool] = True
    RECORD: ClassVar[tuple] = (  # the video header's architecture, in byte order (after size and colour)
        ("patch", UInts("patch size", 3, size=4)),
        ("n_grids", _GRIDS),
        ("context", _CONTEXT),
        ("prev_window", UInts("previous-frame window", 2, size=1)),
        ("arm_hidden", _ARM),
        ("synth_hidden", _SYNTH),
        ("synth_convs", _CONVS),
        ("conv3d", Flag("conv3d flag")),
    )

    def __post_init__(self):
        super().__post_init__()
        # the video header and video synthesis have no room for these yet: C3's video model is
        # reproduced with its latents, ARM and 3D convs, not its activation and padding
        if (self.synth_activation, self.conv_activation, self.conv_padding) != ("relu", False, "zero"):
            raise ValueError("videos use ReLU synthesis with zero-padded convs")
        if self.colour != "rgb":
            raise ValueError("videos are coded as RGB (their YUV planes are converted)")
        if self.parameterisation != "plain":
            raise ValueError("videos are fitted with parameterisation='plain'")
        if self.upsampling != "bilinear":
            raise ValueError("video grids are upsampled trilinearly (upsampling='bilinear')")
        kh, kw = self.prev_window
        if not (0 <= kh <= 15 and 0 <= kw <= 15) or (kh == 0) != (kw == 0):
            raise ValueError(f"prev_window must be two sizes in [1, 15] or (0, 0), got {self.prev_window}")
        if self.prev_offsets and len(self.prev_offsets) != self.n_grids:
            raise ValueError(f"prev_offsets needs one (oy, ox) per grid ({self.n_grids})")
        if any(abs(v) > 32 for o in self.prev_offsets for v in o):
            raise ValueError("prev_offsets must be within +-32")
        if not any(v for o in self.prev_offsets for v in o):  # all zero: one canonical value (one compile)
            object.__setattr__(self, "prev_offsets", ())
        if len(self.patch) != 3 or any(p < 0 for p in self.patch):
            raise ValueError(f"patch must be three sizes >= 0, got {self.patch}")

    def offset(self, grid: int) -> tuple[int, int]:
        return tuple(self.prev_offsets[grid]) if self.prev_offsets else (0, 0)

    def prev_context(self, grid: int) -> tuple[tuple[int, int], ...]:
        """(dy, dx) positions read in the previous frame by grid `grid`, row-major."""
        kh, kw = self.prev_window
        oy, ox = self.offset(grid)
        return tuple((oy + a - kh // 2, ox + b - kw // 2) for a in range(kh) for b in range(kw))

    @property
    def n_context(self) -> int:
        return len(self.context) + self.prev_window[0] * self.prev_window[1]

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["prev_window"] = list(self.prev_window)
        d["prev_offsets"] = [list(o) for o in self.prev_offsets]
        d["patch"] = list(self.patch)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VideoConfig:
        d = dict(d)
        d["prev_window"] = tuple(int(v) for v in d["prev_window"])
        d["prev_offsets"] = tuple(tuple(int(v) for v in o) for o in d["prev_offsets"])
        d["patch"] = tuple(int(v) for v in d["patch"])
        return super().from_dict(d)
