"""Trainer: schedule formula, overfitting, gradient accumulation, EMA, exact resume, export."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.utils.data import TensorDataset

from worldsmith.distributed.parallel_dims import ParallelConfig
from worldsmith.errors import CheckpointError, ConfigError, WorldsmithError
from worldsmith.train import TrainConfig, Trainer, export_model, latest, load_model, load_weights
from worldsmith.train.data import BatchStream
from worldsmith.train.ema import EMA
from worldsmith.train.metrics import read_metrics
from worldsmith.train.optim import lr_at

HERE = Path(__file__).parent


def mlp(seed: int = 0, dropout: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 64), torch.nn.GELU(), torch.nn.Dropout(dropout), torch.nn.Linear(64, 4)
    )


def regression(n: int = 32) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    return TensorDataset(x, torch.randn(n, 4, generator=g))


def mse(model, batch):
    x, y = batch
    loss = F.mse_loss(model(x), y)
    return loss, {"rmse": loss.sqrt()}


def test_lr_schedule_matches_warmup_cosine_formula():
    kw = dict(lr=1.0, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(9, **kw) == pytest.approx(1.0)
    assert lr_at(10, **kw) == pytest.approx(1.0)
    assert lr_at(60, **kw) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(110, **kw) == pytest.approx(0.1)
    assert lr_at(500, **kw) == pytest.approx(0.1)


def test_overfit_one_batch(tmp_path):
    data = regression(16)
    cfg = TrainConfig(steps=100, batch_size=16, lr=1e-2, grad_clip=0, log_every=1, tensorboard=False)
    trainer = Trainer(cfg, mlp(), mse, data, out=tmp_path)
    trainer.fit()
    losses = [r["loss"] for r in read_metrics(tmp_path) if "loss" in r]
    assert len(losses) == 100
    assert losses[-1] < 0.1 * losses[0]
    assert {"lr", "grad_norm", "rmse", "step_time_s", "samples_per_s"} <= set(read_metrics(tmp_path)[0])


def test_grad_accumulation_equals_one_big_batch(tmp_path):
    """Two micro-batches of 8 are the consecutive halves of one global batch of 16."""
    finals = []
    for i, (bs, accum) in enumerate([(16, 1), (8, 2)]):
        cfg = TrainConfig(steps=3, batch_size=bs, grad_accum=accum, lr=1e-2, tensorboard=False)
        trainer = Trainer(cfg, mlp(), mse, regression(32), out=tmp_path / str(i))
        trainer.fit()
        finals.append([p.detach().clone() for p in trainer.model.parameters()])
    for a, b in zip(*finals, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_activation_checkpointing_changes_nothing_but_memory(tmp_path):
    """`parallel.ac` on one process: same losses and weights as without (blocks are recomputed)."""
    sys.path.insert(0, str(HERE.parent / "distributed"))
    from tiny_models import TinyDiT, denoise_objective, dit_data

    runs = []
    for ac in (False, True):
        torch.manual_seed(0)
        cfg = TrainConfig(
            steps=3, batch_size=4, log_every=1, tensorboard=False, parallel=ParallelConfig(ac=ac)
        )
        trainer = Trainer(cfg, TinyDiT(), denoise_objective, dit_data(8, 9), out=tmp_path / str(ac))
        trainer.fit()
        runs.append((read_metrics(tmp_path / str(ac)), trainer.model.state_dict()))
    assert [r["loss"] for r in runs[0][0]] == [r["loss"] for r in runs[1][0]]
    assert all(torch.equal(v, runs[1][1][k]) for k, v in runs[0][1].items())


def test_ema_follows_its_recurrence():
    model = torch.nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    expected = model.weight.detach().clone()
    for _ in range(3):
        with torch.no_grad():
            model.weight.add_(1.0)
        ema.update(model)
        expected = 0.9 * expected + 0.1 * model.weight.detach()
    torch.testing.assert_close(ema.shadow["weight"], expected)
    trained = model.weight.detach().clone()
    with ema.swapped_in(model):
        torch.testing.assert_close(model.weight.detach(), expected)
    torch.testing.assert_close(model.weight.detach(), trained)


def test_interrupt_saves_and_resume_is_exact(tmp_path):
    """A SIGINT-style stop at step 7 then a resume gives the uninterrupted run's losses and weights."""
    cfg = TrainConfig(steps=12, batch_size=8, lr=5e-3, log_every=1, ema_decay=0.9, tensorboard=False)
    full = Trainer(cfg, mlp(dropout=0.3), mse, regression(20), out=tmp_path / "full")
    full.fit()

    calls = 0
    trainer: Trainer | None = None

    def interrupting(model, batch):
        nonlocal calls
        calls += 1
        if calls == 7:
            trainer._interrupted = True  # what the SIGINT handler does
        return mse(model, batch)

    trainer = Trainer(cfg, mlp(dropout=0.3), interrupting, regression(20), out=tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert latest(tmp_path / "cut" / "checkpoints").name == "step_0000007"
    resumed = Trainer(cfg, mlp(seed=5, dropout=0.3), mse, regression(20), out=tmp_path / "cut")
    resumed.fit(resume=True)

    def losses(run):
        return [r["loss"] for r in read_metrics(tmp_path / run) if "loss" in r]

    assert losses("cut") == losses("full")
    for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
    for k, v in full.ema.shadow.items():
        assert torch.equal(v, resumed.ema.shadow[k])


def _worker(out: Path, sig: str = "none", step: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / "resume_worker.py"), str(out), sig, str(step)],
        capture_output=True, text=True, timeout=120, env={"WORLDSMITH_PROGRESS": "0", "PATH": ""},
    )  # fmt: skip


def test_ctrl_c_then_kill_9_then_resume_gives_identical_losses_and_weights(tmp_path):
    """20 steps uninterrupted == SIGINT in step 7 (saves step 7) -> resume, kill -9 in step 13
    (last checkpoint: step 10) -> resume to 20."""
    sys.path.insert(0, str(HERE))
    import resume_worker

    resume_worker.main(str(tmp_path / "full"), "none", 0)  # the reference, in this process
    cut = tmp_path / "cut"
    interrupted = _worker(cut, "int", 7)
    assert interrupted.returncode != 0 and "KeyboardInterrupt" in interrupted.stderr
    assert latest(cut / "checkpoints").name == "step_0000007"
    killed = _worker(cut, "kill", 13)
    assert killed.returncode == -9
    assert latest(cut / "checkpoints").name == "step_0000010"
    assert [r["step"] for r in read_metrics(cut)] == list(range(1, 13))  # 11, 12 logged, then lost
    resumed = _worker(cut, "none")
    assert resumed.returncode == 0, resumed.stderr

    full_m, cut_m = read_metrics(tmp_path / "full"), read_metrics(cut)
    assert [r["step"] for r in cut_m] == list(range(1, 21))
    assert [r["loss"] for r in cut_m] == [r["loss"] for r in full_m]
    a = load_file(tmp_path / "full" / "export" / "model.safetensors")
    b = load_file(cut / "export" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    kept = sorted(p.name for p in (cut / "checkpoints").glob("step_*"))
    assert kept == ["step_0000010", "step_0000015", "step_0000020"]  # keep_checkpoints=3


def test_export_round_trip_and_mismatch(tmp_path):
    model = mlp()
    export_model(tmp_path / "m", model, {"width": 64})
    assert json.loads((tmp_path / "m" / "config.json").read_text()) == {"width": 64}
    back = load_model(tmp_path / "m", lambda cfg: mlp(seed=9))
    x = torch.randn(5, 8)
    torch.testing.assert_close(back(x), model(x))
    with pytest.raises(CheckpointError, match="does not match"):
        load_weights(torch.nn.Linear(8, 4), tmp_path / "m")
    with pytest.raises(CheckpointError, match="config.json"):
        load_model(tmp_path / "nothing", lambda cfg: mlp())


def test_full_state_dict_gives_ema_or_trained_weights(tmp_path):
    cfg = TrainConfig(steps=3, batch_size=8, ema_decay=0.9, tensorboard=False)
    trainer = Trainer(cfg, mlp(), mse, regression(16), out=tmp_path)
    trainer.fit()
    trained = trainer.full_state_dict(ema=False)
    averaged = trainer.full_state_dict()
    assert all(torch.equal(trained[k], v) for k, v in trainer.model.state_dict().items())
    assert all(torch.equal(averaged[k], trainer.ema.shadow[k]) for k in trainer.ema.shadow)
    assert not torch.equal(trained["0.weight"], averaged["0.weight"])


def test_tied_weights_export(tmp_path):
    def tied():
        model = torch.nn.Sequential(torch.nn.Embedding(5, 4), torch.nn.Linear(4, 5, bias=False))
        model[1].weight = model[0].weight
        return model

    model = tied()
    export_model(tmp_path / "tied", model)
    back = load_weights(tied(), tmp_path / "tied")
    assert torch.equal(back[0].weight, model[0].weight) and torch.equal(back[1].weight, model[1].weight)
    assert back[1].weight is back[0].weight  # still one parameter after the reload


def test_data_stream_shards_global_batches_and_resumes():
    data = torch.arange(20)
    whole = BatchStream(data, batch_size=4, seed=0)
    ranks = [BatchStream(data, batch_size=4, seed=0, dp_rank=r, dp=2) for r in range(2)]
    for _ in range(12):  # crosses an epoch boundary (5 batches per epoch)
        assert torch.cat([next(r) for r in ranks]).tolist() == next(whole).tolist()
    state = whole.state_dict()
    assert state == {"epoch": 2, "batch": 2}
    again = BatchStream(data, batch_size=4, seed=0)
    again.load_state_dict(state)
    assert next(again).tolist() == next(whole).tolist()


class _Batches:
    """An iterable of ready batches without len/getitem (like a generator-backed loader)."""

    def __iter__(self):
        return (torch.full((2,), i) for i in range(5))


def test_iterable_data_resumes_by_replay():
    batches = _Batches()
    s = BatchStream(batches, batch_size=2, seed=0)
    for _ in range(3):
        next(s)
    t = BatchStream(batches, batch_size=2, seed=0)
    t.load_state_dict(s.state_dict())
    assert next(t).tolist() == next(s).tolist() == [3, 3]


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp8")
    with pytest.raises(ConfigError, match="fewer than one batch"):
        Trainer(TrainConfig(batch_size=64), mlp(), mse, regression(8), out=tmp_path)
    trainer = Trainer(
        TrainConfig(steps=1, batch_size=4), mlp(), lambda m, b: m(b[0]), regression(8), out=tmp_path
    )
    with pytest.raises(WorldsmithError, match="scalar loss"):
        trainer.fit()
    with pytest.raises(CheckpointError, match="not a complete training checkpoint"):
        Trainer(TrainConfig(steps=1, batch_size=4), mlp(), mse, regression(8), out=tmp_path).fit(
            resume=tmp_path / "nope"
        )


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_precisions_train(tmp_path, precision):
    """bf16 autocast, and fp16 with its gradient scaler (whose state is checkpointed)."""
    cfg = TrainConfig(steps=30, batch_size=16, lr=1e-2, precision=precision, log_every=1, tensorboard=False)
    trainer = Trainer(cfg, mlp(), mse, regression(16), out=tmp_path)
    trainer.fit()
    losses = [r["loss"] for r in read_metrics(tmp_path)]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < 0.5 * losses[0]
    meta = json.loads((latest(tmp_path / "checkpoints") / "trainer.json").read_text())
    assert (meta["scaler"] is not None) == (precision == "fp16")


def test_eval_hook_tensorboard_and_ema_warmup(tmp_path):
    cfg = TrainConfig(steps=6, batch_size=8, eval_every=3, ema_decay=0.99, log_every=3)
    seen = []

    def evaluate(model):
        seen.append(model.training)
        return {"mse": 1.0}

    trainer = Trainer(cfg, mlp(), mse, regression(16), out=tmp_path, evaluate=evaluate)
    summary = trainer.fit()
    assert summary["eval/mse"] == 1.0 and summary["eval_ema/mse"] == 1.0
    assert seen == [False] * 4  # step 3, then the end; model and EMA each
    assert [r["step"] for r in read_metrics(tmp_path) if "eval/mse" in r] == [3, 6]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert trainer.ema.current_decay() == pytest.approx(min(0.99, 7 / 16))  # (1 + n) / (10 + n), n = 6


@pytest.mark.slow
def test_compiled_blocks_train_like_eager(tmp_path):
    """`parallel.compile` (+ `ac`): torch.compile of every block gives the eager losses (~2 min)."""
    sys.path.insert(0, str(HERE.parent / "distributed"))
    from tiny_models import TinyDiT, denoise_objective, dit_data

    losses = []
    for compiled in (False, True):
        torch.manual_seed(0)
        parallel = ParallelConfig(compile=compiled, ac=compiled)
        cfg = TrainConfig(steps=3, batch_size=4, log_every=1, tensorboard=False, parallel=parallel)
        Trainer(cfg, TinyDiT(), denoise_objective, dit_data(8, 9), out=tmp_path / str(compiled)).fit()
        losses.append([r["loss"] for r in read_metrics(tmp_path / str(compiled))])
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)


def test_resuming_into_a_different_model_names_the_checkpoint(tmp_path):
    cfg = TrainConfig(steps=2, batch_size=8, tensorboard=False)
    Trainer(cfg, mlp(), mse, regression(16), out=tmp_path).fit()
    wider = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.GELU(), torch.nn.Linear(32, 4))
    with pytest.raises(CheckpointError, match="does not match"):
        Trainer(cfg, wider, mse, regression(16), out=tmp_path).fit(resume=True)


def test_auto_precision_is_bf16_exactly_where_the_cpu_has_native_bf16(monkeypatch):
    from worldsmith.train.trainer import resolve_precision

    for name in ("fp32", "bf16", "fp16"):
        assert resolve_precision(name) == name
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert resolve_precision("auto") == ("bf16" if native else "fp32")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="int8")


def test_auto_precision_trains_under_the_resolved_autocast(tmp_path, monkeypatch):
    """The Trainer resolves "auto" once: its autocast dtype is bf16 where the CPU has it, else none."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    model = torch.nn.Linear(4, 1)
    data = TensorDataset(torch.randn(8, 4), torch.randn(8, 1))

    def objective(m, batch):
        x, y = batch
        out = m(x)
        assert out.dtype == torch.bfloat16  # the linear layer ran under bf16 autocast
        return F.mse_loss(out.float(), y), {}

    trainer = Trainer(TrainConfig(steps=2, batch_size=4, precision="auto", tensorboard=False), model,
                      objective, data, out=tmp_path)  # fmt: skip
    assert (trainer.precision, trainer.autocast_dtype) == ("bf16", torch.bfloat16)
    trainer.fit()
