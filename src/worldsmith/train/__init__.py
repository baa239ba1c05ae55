"""One training loop for every model family: `Trainer(config, model, objective, data)`."""

from worldsmith.train.checkpoint import export_model, latest, load_model, load_weights, read_export
from worldsmith.train.trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer", "export_model", "latest", "load_model", "load_weights", "read_export"]
