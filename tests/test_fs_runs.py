from __future__ import annotations

import json

import pytest

from worldsmith import fs
from worldsmith.runs import RunDir, seed_everything, seeded_init


def test_atomic_path_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "a.json"
    fs.write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), fs.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert list(tmp_path.iterdir()) == [path]


def test_atomic_dir_replaces_whole(tmp_path):
    target = tmp_path / "ep"
    with fs.atomic_dir(target) as tmp:
        (tmp / "x.txt").write_text("1")
    with pytest.raises(RuntimeError), fs.atomic_dir(target) as tmp:
        (tmp / "y.txt").write_text("2")
        raise RuntimeError
    assert sorted(p.name for p in target.iterdir()) == ["x.txt"]
    with fs.atomic_dir(target) as tmp:
        (tmp / "z.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["z.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep"]


def test_run_dir_records_failure(tmp_path):
    with pytest.raises(ValueError), RunDir(tmp_path, command="x", args={"a": 1}, seed=5):
        raise ValueError("boom")
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["status"] == "failed" and "boom" in info["error"] and info["seed"] == 5


def test_seed_everything_reproducible():
    import torch

    g1 = seed_everything(7)
    a = torch.rand(3), torch.rand(3, generator=g1)
    g2 = seed_everything(7)
    b = torch.rand(3), torch.rand(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_seeded_init_draws_from_the_seed_and_leaves_the_global_rng_alone():
    import torch

    draws = []
    for before in (1, 2):
        torch.manual_seed(before)
        with seeded_init(5):
            draws.append(torch.nn.Linear(4, 4).weight.detach().clone())
        after = torch.rand(1)
        torch.manual_seed(before)
        assert torch.equal(after, torch.rand(1))  # as if nothing had been drawn
    assert torch.equal(draws[0], draws[1])


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = fs.write_text(tmp_path / "a.txt", "x")
        with fs.atomic_dir(tmp_path / "d") as tmp:
            (tmp / "f").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
