"""A training run in its own process for the kill -9 / resume test (not a test module).

python resume_worker.py OUT KILL_AT   # KILL_AT = -1: train to the end and export
"""

from __future__ import annotations

import os
import signal
import sys

import torch
import torch.nn.functional as F

from worldsmith.train import TrainConfig, Trainer

torch.set_num_threads(1)


def build() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 32), torch.nn.GELU(), torch.nn.Dropout(0.2), torch.nn.Linear(32, 3)
    )


def data() -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 6, generator=g)
    return torch.utils.data.TensorDataset(x, x[:, :3].sin())


CONFIG = TrainConfig(
    steps=20, batch_size=8, lr=5e-3, warmup_steps=4, log_every=1, ckpt_every=5, ema_decay=0.8, seed=3
)


def main(out: str, sig: str, at_step: int) -> None:
    trainer = None

    def objective(model, batch):
        if sig != "none" and trainer.step + 1 == at_step:  # inside optimizer step `at_step` (1-based)
            os.kill(os.getpid(), signal.SIGKILL if sig == "kill" else signal.SIGINT)
        x, y = batch
        noise = torch.randn_like(y) * 0.01  # uses the global RNG: must be restored exactly
        return F.mse_loss(model(x), y + noise)

    trainer = Trainer(CONFIG, build(), objective, data(), out=out)
    trainer.fit(resume=True)
    trainer.export(os.path.join(out, "export"), {"kind": "mlp"})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
