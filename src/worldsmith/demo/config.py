"""The demo's settings: one small frozen config per stage, nested in `DemoConfig`.

A stage's fingerprint hashes the sections it reads and the fingerprints of the stages it comes
after (`run.STAGES`), so changing the sampler redoes refiner, predict and evaluate only, and
changing the frame size redoes everything; no table of individual keys is kept by hand. Why each
default is what it is (what was measured) lives in `docs/architecture.md`, "The demo's settings".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worldsmith.config import check

# Every training stage's `precision`: "auto" trains under bfloat16 autocast where the CPU computes in
# bfloat16 natively (AVX512_BF16 / AMX; `train.trainer.resolve_precision`), in float32 elsewhere.
PRECISIONS = ("auto", "fp32", "bf16")
PHYSICS_SCENARIOS = ("free_fall", "projectile", "collision", "ramp", "dominoes", "tower", "slide", "pendulum")


@dataclass(frozen=True, kw_only=True)
class SimSettings:
    """Raw footage to train on and held-out episodes to evaluate on (`stage_sim`)."""

    scenarios: tuple[str, ...] = PHYSICS_SCENARIOS  # evaluated (and trained on)
    extra_train_scenarios: tuple[str, ...] = ("push",)  # trained on only
    train_per_scenario: int = 30  # shots of raw footage per scenario
    test_per_scenario: int = 2  # held-out static-camera episodes (physics alignment)
    refine_per_scenario: int = 32  # episodes the context refiner learns on (half static, half moving)
    geometry_cameras: tuple[str, ...] = ("orbit", "dolly")  # held-out moving-camera episodes (3D consistency)
    frames: int = 17  # per clip: 1 + 4k, the causal tokenizer's grouping
    trim: int = 2  # frames the clip rules cut from each end of a detected shot
    transition_frames: int = 4  # length of dissolves and fades in the raw footage
    size: int = 64
    fps: float = 10.0

    def __post_init__(self) -> None:
        check((self.frames - 1) % 4 == 0, "sim.frames", self.frames, "must be 1 + 4k (causal tokenizer)")
        check(self.size % 8 == 0, "sim.size", self.size, "must be a multiple of 8")
        for key in ("train_per_scenario", "test_per_scenario", "refine_per_scenario"):
            check(getattr(self, key) >= 1, f"sim.{key}", getattr(self, key), "must be >= 1")


@dataclass(frozen=True, kw_only=True)
class CurateSettings:
    """What `curate` runs on the raw footage (`data_stages.curate_config` builds its `CurateConfig`)."""

    detector: str = "content"  # shot detector run on the raw footage
    filters: tuple[str, ...] = ("blur", "exposure", "entropy")  # curate's filters the demo applies
    dedup: bool = True  # semantic de-duplication of the clips


@dataclass(frozen=True, kw_only=True)
class TokenizerSettings:
    """The tokenizer: a preset narrowed to fit the CPU budget, and how long it trains."""

    preset: str = "tiny-CV4x8x8"
    channels: tuple[int, ...] = (16, 32, 32, 32)
    res_blocks: int = 1
    spatial: int | None = None  # spatial compression; None: the preset's
    shortcut: bool = True  # low-pass shortcut (not in Cosmos): learn the residual of a block-mean codec
    steps: int = 2500
    batch: int = 4
    precision: str = "auto"

    def __post_init__(self) -> None:
        check(self.steps >= 1, "tokenizer.steps", self.steps, "must be >= 1")
        check(
            self.precision in PRECISIONS,
            "tokenizer.precision",
            self.precision,
            f"must be one of {PRECISIONS}",
        )


@dataclass(frozen=True, kw_only=True)
class WorldModelSettings:
    """The Text2World + Video2World DiT on the tokenizer's latents (`train diffusion`)."""

    preset: str = "tiny"  # `diffusion.dit.PRESETS`
    steps: int = 4000
    patch: tuple[int, int, int] = (1, 2, 2)  # (t, h, w) latent patch of a DiT token
    residual_to_given: bool = True  # denoise the change from the last given latent frame
    precision: str = "auto"

    def __post_init__(self) -> None:
        check(self.steps >= 1, "world_model.steps", self.steps, "must be >= 1")
        check(
            self.precision in PRECISIONS,
            "world_model.precision",
            self.precision,
            f"must be one of {PRECISIONS}",
        )


@dataclass(frozen=True, kw_only=True)
class AutoregressiveSettings:
    """The autoregressive world model: a discrete (DV) tokenizer (`tokenizer train`, narrowed as the
    continuous one is) and a GPT on its tokens (`train ar`); `generate ar-video2world` predicts.
    tokenizer_steps 0: no AR model."""

    preset: str = "tiny-DV4x8x8"
    tokenizer_steps: int = 1000
    steps: int = 600  # GPT steps
    gpt_preset: str = "tiny"  # `autoregressive.gpt.PRESETS`
    temperature: float = 1.0  # Cosmos' sampling: top-p 0.8 at temperature 1
    top_p: float = 0.8
    precision: str = "auto"  # the DV tokenizer's and the GPT's training

    def __post_init__(self) -> None:
        check(
            self.tokenizer_steps >= 0, "autoregressive.tokenizer_steps", self.tokenizer_steps, "must be >= 0"
        )
        check(self.steps >= 1, "autoregressive.steps", self.steps, "must be >= 1")
        check(
            self.precision in PRECISIONS,
            "autoregressive.precision",
            self.precision,
            f"must be one of {PRECISIONS}",
        )


@dataclass(frozen=True, kw_only=True)
class SamplingSettings:
    """How Video2World predictions are sampled (for the refiner's training set and the held-out ones)."""

    cond_frames: int = 5  # given frames (= 2 latent frames at 4x temporal compression)
    sampler: str = "euler"
    steps: int = 3

    def __post_init__(self) -> None:
        check((self.cond_frames - 1) % 4 == 0, "sampling.cond_frames", self.cond_frames, "must be 1 + 4k")


@dataclass(frozen=True, kw_only=True)
class RefinerSettings:
    """The context refiner (`refine/`); steps 0: none."""

    steps: int = 1500
    motion: bool = True  # carry the last given frame's pixels along a predicted flow
    given_frames: int = 5
    width: int = 16
    # float32: under bf16 autocast its final loss was -3.92 against -4.56 (copying the last frame:
    # -4.22), the demo's world model 29.18 dB / IoU 0.124 against 29.57 / 0.157 (measured)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        check(self.steps >= 0, "refiner.steps", self.steps, "must be >= 0")
        check(
            self.precision in PRECISIONS, "refiner.precision", self.precision, f"must be one of {PRECISIONS}"
        )


@dataclass(frozen=True, kw_only=True)
class EvalSettings:
    """3D consistency of the moving-camera predictions (SIFT needs more than 64 px frames)."""

    geometry_upscale: int = 4  # match on bicubic-upscaled frames
    geometry_contrast: float = 0.01  # SIFT contrast threshold (OpenCV's default is 0.04)
    geometry_gap: int = 2  # frame distance of the compared pairs

    def __post_init__(self) -> None:
        check(self.geometry_upscale >= 1, "eval.geometry_upscale", self.geometry_upscale, "must be >= 1")
        check(self.geometry_gap >= 1, "eval.geometry_gap", self.geometry_gap, "must be >= 1")
        check(self.geometry_contrast > 0, "eval.geometry_contrast", self.geometry_contrast, "must be > 0")


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    sim: SimSettings = field(default_factory=SimSettings)
    curate: CurateSettings = field(default_factory=CurateSettings)
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    world_model: WorldModelSettings = field(default_factory=WorldModelSettings)
    autoregressive: AutoregressiveSettings = field(default_factory=AutoregressiveSettings)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    refiner: RefinerSettings = field(default_factory=RefinerSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def __post_init__(self) -> None:
        n = self.sampling.cond_frames
        check(
            0 < n < self.sim.frames,
            "sampling.cond_frames",
            n,
            f"must be in (0, sim.frames={self.sim.frames})",
        )
        g = self.refiner.given_frames
        check(2 <= g <= n, "refiner.given_frames", g, f"must be in [2, sampling.cond_frames={n}]")


def quick_config() -> DemoConfig:
    """The smallest demo that still runs every stage (a few minutes on 2 cores)."""
    return DemoConfig(
        sim=SimSettings(
            scenarios=("free_fall", "collision", "ramp", "pendulum"),
            train_per_scenario=3,
            test_per_scenario=1,
            refine_per_scenario=1,
        ),
        tokenizer=TokenizerSettings(steps=40),
        world_model=WorldModelSettings(steps=80),
        autoregressive=AutoregressiveSettings(tokenizer_steps=30, steps=30),
        sampling=SamplingSettings(steps=4),
        refiner=RefinerSettings(steps=20),
    )
