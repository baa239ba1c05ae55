"""Scoring future-frame predictions of held-out twin episodes: how a world model moves things.

`HeldOut` is the rule that picks the episodes, fixed before any model is scored (the physics
scenarios, seeds the training footage never draws, where the given frames end). `score` rates
every method's predictions of those episodes on

- pixels and objects (`physics.physics_alignment`: PSNR, SSIM, object IoU);
- motion, the Physics-IQ terms and score (`physics_iq`), against a second take of each episode
  re-simulated from a minutely perturbed start (the physical variance);
- skill over copy-last-frame and over linear extrapolation on pooled MSE,
  ``1 - sum(MSE_model) / sum(MSE_base)``, per horizon bin of future frames.

Every number is given overall and per scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from worldsmith.config import check
from worldsmith.errors import WorldsmithError
from worldsmith.eval import physics, physics_iq

PHYSICS_SCENARIOS = ("free_fall", "projectile", "collision", "ramp", "dominoes", "tower", "slide", "pendulum")


@dataclass(frozen=True, kw_only=True)
class HeldOut:
    """The held-out episodes and the protocol (fixed before evaluation; docs/architecture.md).

    Twins are 17 frames at 10 fps; the first `given` (5 = 2 latent frames of a 4x temporal causal
    tokenizer) are given, the 12 after them are predicted and scored in bins of 4 (one latent frame
    each). Seeds ``seed_base + k`` lie above 2**31, where training footage never draws."""

    scenarios: tuple[str, ...] = PHYSICS_SCENARIOS
    per_scenario: int = 3
    seed_base: int = 2**31 + 100_000
    frames: int = 17
    given: int = 5
    size: int = 64
    fps: float = 10.0
    perturb: float = 1e-3  # second take: start state displaced by N(0, 1 mm / 1 mrad) per dof
    bins: tuple[tuple[int, int], ...] = ((1, 4), (5, 8), (9, 12))

    def __post_init__(self) -> None:
        check(0 < self.given < self.frames, "given", self.given, f"must be in (0, frames={self.frames})")
        check(self.per_scenario >= 1, "per_scenario", self.per_scenario, "must be >= 1")
        future = self.frames - self.given
        check(all(1 <= a <= b <= future for a, b in self.bins), "bins", self.bins, f"must lie in 1..{future}")

    def episodes(self) -> list[tuple[str, int]]:
        """(scenario, seed) of every held-out episode, scenario-major."""
        return [(s, self.seed_base + k) for s in self.scenarios for k in range(self.per_scenario)]


def render_held_out(rule: HeldOut) -> dict[str, Any]:
    """The held-out episodes: ``frames``, ``take2`` ``[N, T, H, W, 3]`` uint8, ``masks`` ``[N, T, H, W]``,
    ``scenario`` and ``caption`` (one per episode)."""
    from worldsmith.sim.episode import make_episode

    out: dict[str, list] = {"frames": [], "take2": [], "masks": [], "scenario": [], "caption": []}
    kw = dict(frames=rule.frames, size=rule.size, fps=rule.fps, depth=False)
    for scenario, seed in rule.episodes():
        ep = make_episode(scenario, seed, **kw)
        out["frames"].append(ep.frames[0])
        out["masks"].append(ep.masks[0])
        out["take2"].append(make_episode(scenario, seed, masks=False, perturb=rule.perturb, **kw).frames[0])
        out["scenario"].append(scenario)
        out["caption"].append(ep.caption)
    return {k: (v if k in ("scenario", "caption") else np.stack(v)) for k, v in out.items()}


def _group(
    idx: list[int], frames, take2, masks, preds: Mapping[str, np.ndarray], rule: HeldOut, cfg
) -> dict[str, dict[str, Any]]:
    n = rule.given
    base = {
        "copy": np.stack([physics.copy_last_frame(frames[i][:n], rule.frames - n) for i in idx]),
        "linear": np.stack([physics.linear_extrapolation(frames[i][:n], rule.frames - n) for i in idx]),
    }
    true = frames[idx][:, n:]
    mse_base = {
        k: np.stack([physics_iq.frame_mse(t, p) for t, p in zip(true, v, strict=True)])
        for k, v in base.items()
    }
    var = [physics_iq.physical_variance(frames[i][n:], take2[i][n:], frames[i][n - 1], cfg) for i in idx]
    out = {}
    for name, video in preds.items():
        p = video[idx]
        rows = [physics.physics_alignment(p[j], frames[i], masks[i], n) for j, i in enumerate(idx)]
        piq = [physics_iq.terms(p[j], frames[i][n:], frames[i][n - 1], cfg) for j, i in enumerate(idx)]
        mse = np.stack([physics_iq.frame_mse(t, q) for t, q in zip(true, p, strict=True)])  # [n_ep, F]
        res: dict[str, Any] = {k: float(np.nanmean([r[k] for r in rows])) for k in ("psnr", "ssim", "iou")}
        res |= {k: float(np.mean([r[k] for r in piq])) for k in physics_iq.TERMS}
        res["physics_iq"] = physics_iq.physics_iq_score(piq, var)
        res["pooled_psnr"] = float(10 * np.log10(1 / max(mse.mean(), 1e-12)))
        everything = ((1, mse.shape[1]),)
        for key, m in mse_base.items():
            res[f"skill_{key}"] = physics_iq.horizon_skill(mse, m, rule.bins + everything)
        out[name] = res
    return out


def score(
    data: Mapping[str, Any],
    preds: Mapping[str, np.ndarray],
    rule: HeldOut | None = None,
    cfg: physics_iq.PhysicsIQConfig = physics_iq.SMALL_FRAMES,
) -> dict[str, Any]:
    """Scores of every method's predictions ``{name: [N, F, H, W, 3] uint8}`` of the `render_held_out`
    episodes `data`: ``{"overall": {method: metrics}, "scenarios": {scenario: {method: metrics}}}``.
    The copy-last and linear baselines are computed here and need not be given."""
    rule = rule or HeldOut()
    frames, take2, masks = data["frames"], data["take2"], data["masks"]
    N, n = len(frames), rule.given
    preds = {
        "copy last frame": np.stack([physics.copy_last_frame(f[:n], rule.frames - n) for f in frames]),
        "linear extrapolation": np.stack(
            [physics.linear_extrapolation(f[:n], rule.frames - n) for f in frames]
        ),
        **preds,
    }
    for name, p in preds.items():
        if p.shape != frames[:, n:].shape:
            raise WorldsmithError(f"predictions of '{name}' are {p.shape}, expected {frames[:, n:].shape}")
    scenarios = list(dict.fromkeys(data["scenario"]))
    args = (frames, take2, masks, preds, rule, cfg)
    return {
        "overall": _group(list(range(N)), *args),
        "scenarios": {s: _group([i for i in range(N) if data["scenario"][i] == s], *args) for s in scenarios},
    }
