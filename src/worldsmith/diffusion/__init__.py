"""Diffusion world model: EDM (edm.py), samplers (samplers.py), the Cosmos DiT (dit.py),
Video2World conditioning (conditioning.py), the training objective (objective.py), latent sampling
(generate.py), the world-model bundle (world.py), training recipes (recipes.py), generation
pipelines (pipeline.py) and released-weight conversion (convert.py).

    from worldsmith.diffusion import fit_preset, predict_latents, train_world_model
    cfg = fit_preset("tiny", latents.shape[1:])                            # latents [N, 16, T, h, w]
    world, metrics = train_world_model(latents, "runs/dit", dit_cfg=cfg, train={"steps": 500})
    future = predict_latents(world, latents[:, :, :2], steps=10)           # [N, 16, T, h, w]
"""

from worldsmith.diffusion.dit import PRESETS, DiT, DiTConfig
from worldsmith.diffusion.edm import EDMConfig, EDMDenoiser
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.diffusion.pipeline import generate_world, predict_latents
from worldsmith.diffusion.recipes import fit_preset, train_diffusion, train_world_model
from worldsmith.diffusion.world import WorldModel, WorldSpec

__all__ = [
    "PRESETS",
    "DiT",
    "DiTConfig",
    "DiffusionObjective",
    "EDMConfig",
    "EDMDenoiser",
    "ObjectiveConfig",
    "WorldModel",
    "WorldSpec",
    "fit_preset",
    "generate_world",
    "predict_latents",
    "sample_latents",
    "train_diffusion",
    "train_world_model",
]
