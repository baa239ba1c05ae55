from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from worldsmith import config
from worldsmith.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class ModelCfg:
    depth: int = 2
    width: int = 64
    dropout: float = 0.0
    levels: tuple[int, ...] = (8, 5, 5)
    norm: Literal["rms", "layer"] = "rms"

    def __post_init__(self):
        config.check(self.depth > 0, "depth", self.depth, "must be positive")


@dataclass(frozen=True, kw_only=True)
class RunCfg:
    name: str = "run"
    lr: float = 1e-3
    compile: bool = False
    ckpt: str | None = None
    model: ModelCfg = field(default_factory=ModelCfg)


def test_round_trip_dict():
    cfg = RunCfg(model=ModelCfg(depth=4))
    again = config.from_dict(RunCfg, config.to_dict(cfg))
    assert again == cfg
    assert isinstance(again.model.levels, tuple)


def test_unknown_key_named():
    with pytest.raises(ConfigError, match="model.deph"):
        config.from_dict(RunCfg, {"model": {"deph": 3}})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"lr": "fast"}, "lr"),
        ({"compile": 1}, "compile"),
        ({"model": {"depth": 2.5}}, "model.depth"),
        ({"model": {"depth": True}}, "model.depth"),
        ({"model": {"levels": [8, "x"]}}, r"model.levels\[1\]"),
        ({"model": {"norm": "batch"}}, "model.norm"),
        ({"name": 3}, "name"),
        ({"model": 5}, "model"),
    ],
)
def test_wrong_types_named(data, key):
    with pytest.raises(ConfigError, match=key):
        config.from_dict(RunCfg, data)


def test_int_accepted_for_float_and_none_for_optional():
    cfg = config.from_dict(RunCfg, {"lr": 1, "ckpt": None})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.ckpt is None


def test_post_init_validation_names_key():
    with pytest.raises(ConfigError, match="'depth' = 0 must be positive"):
        config.from_dict(RunCfg, {"model": {"depth": 0}})


def test_overrides():
    cfg = config.load(RunCfg, overrides=["model.depth=4", "lr=3e-4", "model.levels=[8,8]", "ckpt=a/b"])
    assert cfg.model.depth == 4 and cfg.lr == 3e-4 and cfg.model.levels == (8, 8) and cfg.ckpt == "a/b"


@pytest.mark.parametrize(
    ("override", "match"),
    [("model.dept=4", "model.dept"), ("nope=1", "nope"), ("depth", "key.sub=value"), ("lr=x", "lr")],
)
def test_bad_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        config.load(RunCfg, overrides=[override])


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_load_files(tmp_path, suffix):
    cfg = RunCfg(name="x", model=ModelCfg(width=32, norm="layer"))
    path = config.save(cfg, tmp_path / f"cfg{suffix}")
    assert config.load(RunCfg, path) == cfg
    assert config.load(RunCfg, path, overrides=["model.width=16"]).model.width == 16


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(RunCfg, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml.*not valid YAML"):
        config.load(RunCfg, bad)
    txt = tmp_path / "cfg.txt"
    txt.write_text("a: 1")
    with pytest.raises(ConfigError, match=r"\.yaml"):
        config.load(RunCfg, txt)
    top = tmp_path / "list.json"
    top.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        config.load(RunCfg, top)


def test_frozen():
    cfg = RunCfg()
    with pytest.raises(AttributeError):
        cfg.lr = 1.0  # type: ignore[misc]
