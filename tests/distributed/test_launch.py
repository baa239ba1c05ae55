"""--nproc relaunch under torchrun, and the CLI flags as TrainConfig overrides."""

from __future__ import annotations

import subprocess

import pytest

from worldsmith.config import load
from worldsmith.distributed import launch
from worldsmith.errors import ConfigError
from worldsmith.train import TrainConfig


def test_torchrun_command_drops_nproc_and_uses_localhost():
    assert launch._drop_option(["train", "x", "--nproc", "2", "--cp=2", "--nproc=4"], "--nproc") == [
        "train", "x", "--cp=2",
    ]  # fmt: skip
    cmd = launch.torchrun_command(2, ["train", "x"], port=29999)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in cmd and "--master_addr=127.0.0.1" in cmd and "--master_port=29999" in cmd
    assert cmd[-4:] == ["-m", "worldsmith.cli", "train", "x"]
    with pytest.raises(ConfigError, match="--nproc"):
        launch.torchrun_command(0, [])


def test_relaunch_is_a_no_op_for_one_process_or_inside_torchrun(monkeypatch):
    assert launch.relaunch(1) is None
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launch.relaunch(2) is None


def test_cli_flags_become_parallel_config():
    sets = launch.parallel_overrides(fsdp=False, cp=2, ac=True, compile=False)
    p = load(TrainConfig, overrides=sets).parallel
    assert (p.fsdp, p.cp, p.ac, p.compile) == (False, 2, True, False)
    assert launch.parallel_overrides(fsdp=True, cp=1, ac=False, compile=False, prefix="train.")[0] == (
        "train.parallel.fsdp=true"
    )
    with pytest.raises(ConfigError, match="--cp"):
        launch.parallel_overrides(fsdp=True, cp=0, ac=False, compile=False)


@pytest.mark.slow
def test_torchrun_runs_the_cli_on_two_ranks():
    out = subprocess.run(
        launch.torchrun_command(2, ["version"]), capture_output=True, text=True, timeout=180, check=True
    )
    assert out.stdout.count("worldsmith ") == 2
