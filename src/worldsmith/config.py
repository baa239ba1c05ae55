"""Config helpers for frozen, keyword-only dataclasses.

Each component owns a small config::

    @dataclass(frozen=True, kw_only=True)
    class DiTConfig:
        depth: int = 12
        heads: int = 8

        def __post_init__(self):
            check(self.depth > 0, "depth", self.depth, "must be positive")

`from_dict` builds one from plain data (nested dataclasses included), rejecting unknown keys and
wrong types with the dotted name of the key; `load` reads YAML or JSON; `apply_overrides` applies
``--set model.depth=4`` strings from the command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from worldsmith import fs
from worldsmith.errors import ConfigError

T = TypeVar("T")


def check(ok: bool, key: str, value: Any, why: str) -> None:
    """Raise `ConfigError` naming `key` unless `ok` (use in `__post_init__`)."""
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r} {why}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass (nested ones included) as plain JSON/YAML-ready data."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"to_dict expects a dataclass instance, got {type(cfg).__name__}")
    return _plain(cfg)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, _prefix: str = "") -> T:
    """Build dataclass `cls` from `data`; unknown keys and wrong types raise `ConfigError`."""
    if not isinstance(data, Mapping):
        where = _prefix.rstrip(".") or "config"
        raise ConfigError(f"config '{where}' must be a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key '{_prefix}{unknown[0]}' for {cls.__name__}; "
            f"known keys: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _coerce(hints[name], value, f"{_prefix}{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{cls.__name__}: {err}") from None


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against type hint `tp`, converting lists to tuples and nested dicts."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"config key '{key}' = {value!r} does not match {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' = {value!r} must be one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, _prefix=f"{key}.")
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' = {value!r} must be a list ({_type_name(tp)})")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}' = {value!r} must have {len(args)} items")
            items = [_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=False))]
        elif args:
            items = [_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
        else:
            items = list(value)
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' = {value!r} must be a mapping")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' = {value!r} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' = {value!r} must be an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' = {value!r} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' = {value!r} must be a string")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"config key '{key}' = {value!r} must be a path")
        return Path(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"config key '{key}' = {value!r} must be {tp.__name__}")
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"model.depth=4"`` -> (["model", "depth"], 4). Values are parsed as YAML scalars/lists."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' must look like key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override '{text}': cannot parse value: {err}") from None
    return key.strip().split("."), value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str], cls: type | None = None) -> dict:
    """Apply dotted overrides to plain config data (a deep copy is returned).

    With `cls`, a key that is not a field of the (nested) dataclass is rejected by name even when
    `data` does not list it yet.
    """
    out = json.loads(json.dumps(data, default=str))
    for text in overrides:
        path, value = parse_override(text)
        node, node_cls = out, cls
        for i, part in enumerate(path):
            dotted = ".".join(path[: i + 1])
            if node_cls is not None:
                names = {f.name: f for f in dataclasses.fields(node_cls)}
                if part not in names:
                    raise ConfigError(
                        f"unknown config key '{dotted}' in override '{text}'; "
                        f"known keys: {', '.join(sorted(names))}"
                    )
                child_tp = typing.get_type_hints(node_cls)[part]
                node_cls = child_tp if dataclasses.is_dataclass(child_tp) else None
            elif part not in node and i < len(path) - 1:
                raise ConfigError(f"unknown config key '{dotted}' in override '{text}'")
            if i == len(path) - 1:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ConfigError(f"config key '{dotted}' is a value, not a section ('{text}')")
                node = child
    return out


def split_overrides(overrides: Sequence[str], heads: Sequence[str]) -> dict[str, list[str]]:
    """Dotted overrides by their first part: ``["train.steps=9", "model.depth=2"]`` with heads
    ``("train", "model")`` -> ``{"train": ["steps=9"], "model": ["depth=2"]}`` (one config each)."""
    groups: dict[str, list[str]] = {h: [] for h in heads}
    for o in overrides:
        head, _, rest = o.partition(".")
        if head not in groups or not rest:
            raise ConfigError(f"override '{o}' must start with {', '.join(h + '.' for h in heads)}")
        groups[head].append(rest)
    return groups


def check_overrides(groups: Mapping[str, Sequence[str]], classes: Mapping[str, type]) -> None:
    """Reject grouped overrides (`split_overrides`) naming unknown keys, and a bad value of a config
    built from its defaults alone (``train.steps=-1``): before any slow work (data encoding) runs."""
    for head, cls in classes.items():
        apply_overrides({}, groups.get(head, ()), cls)
    if "train" in classes:
        load(classes["train"], overrides=groups.get("train", ()))


def read_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or JSON (.json) file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file '{path}' must end in .yaml, .yml or .json")
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file '{path}' is not valid {path.suffix[1:].upper()}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level")
    return data


def load(
    cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = (), base: T | None = None
) -> T:
    """Build `cls` from `base` (or its defaults), then a file, then dotted overrides."""
    data: dict[str, Any] = to_dict(base) if base is not None else {}
    if path is not None:
        data = _merge(data, read_file(path))
    data = apply_overrides(data, overrides, cls)
    return from_dict(cls, data)


def _merge(a: dict, b: Mapping) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def save(cfg: Any, path: str | Path) -> Path:
    """Write a config as YAML or JSON (by suffix), atomically."""
    path = Path(path)
    data = to_dict(cfg)
    if path.suffix in (".yaml", ".yml"):
        return fs.write_text(path, yaml.safe_dump(data, sort_keys=False))
    return fs.write_json(path, data)
