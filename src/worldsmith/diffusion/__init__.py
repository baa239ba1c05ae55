"""Diffusion world model: EDM (edm.py), samplers (samplers.py), the Cosmos DiT (dit.py),
Video2World conditioning (conditioning.py), the training objective (objective.py), latent sampling
(generate.py), the world-model bundle (world.py), training recipes (recipes.py), generation
pipelines (pipeline.py) and released-weight conversion (convert.py).

    from worldsmith.diffusion import demo_train, demo_predict
    world, metrics = demo_train(latents, "runs/dit", seed=0, steps=500)   # latents [N, 16, T, h, w]
    future = demo_predict(world, latents[:, :, :2], total_frames=latents.shape[2])
"""

from worldsmith.diffusion.dit import PRESETS, DiT, DiTConfig
from worldsmith.diffusion.edm import EDMConfig, EDMDenoiser
from worldsmith.diffusion.generate import sample_latents
from worldsmith.diffusion.objective import DiffusionObjective, ObjectiveConfig
from worldsmith.diffusion.recipes import demo_predict, demo_train, train_diffusion
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
    "demo_predict",
    "demo_train",
    "sample_latents",
    "train_diffusion",
]
