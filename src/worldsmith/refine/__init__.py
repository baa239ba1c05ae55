"""The context refiner (not in Cosmos): finishes a latent world model's decoded Video2World
prediction in pixel space from the given frames. `model.py` is the network and how it is applied;
`train.py` trains it through the `Trainer`."""

from worldsmith.refine.model import (
    ContextRefiner,
    RefinerConfig,
    given_indices,
    refine_clip,
    refine_video,
    refiner_inputs,
    splat,
)
from worldsmith.refine.train import RefinerObjective, flow_targets, train_refiner

__all__ = [
    "ContextRefiner",
    "RefinerConfig",
    "RefinerObjective",
    "flow_targets",
    "given_indices",
    "refine_clip",
    "refine_video",
    "refiner_inputs",
    "splat",
    "train_refiner",
]
