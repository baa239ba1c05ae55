"""Guard policy: what a deployer sets, recorded in every generating run's run.json.

A policy file (YAML or JSON) picks a preset and may override per-guard thresholds and allowlist
phrases:

    preset: default            # strict | default | research
    classifier_threshold: 0.9  # block when P(unsafe) >= this (default: the head's calibrated one)
    video_threshold: 0.6       # NudeNet score of an unsafe frame
    video_min_frames: 2        # unsafe sampled frames that block a video
    allow: [demolition charge] # phrases the blocklist lets through
    blocklist: [extra.yaml]    # more blocked terms
    set_by: safety-team@example.com

Nothing in a policy turns a guard off: the blocklist always runs, and a threshold must lie in
(0, 1). Anything looser than the `default` preset is a *relaxation*: it is printed as a warning
and recorded in run.json with who set it (the file's `set_by`, else $USER).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from worldsmith.guardrails.base import GuardrailError

# Preset -> (classifier threshold or None for the head's calibrated one, video score threshold,
# unsafe frames needed to block a video).
PRESETS: dict[str, dict[str, Any]] = {
    "strict": {"classifier_threshold": 0.5, "video_threshold": 0.4, "video_min_frames": 1},
    "default": {"classifier_threshold": None, "video_threshold": 0.6, "video_min_frames": 2},
    "research": {"classifier_threshold": 0.97, "video_threshold": 0.8, "video_min_frames": 3},
}
KEYS = (
    "preset",
    "classifier_threshold",
    "video_threshold",
    "video_min_frames",
    "allow",
    "blocklist",
    "set_by",
)


@dataclass(frozen=True, kw_only=True)
class GuardPolicy:
    """A deployer's guard settings; fields left None take the preset's value."""

    preset: str = "default"
    classifier_threshold: float | None = None
    video_threshold: float | None = None
    video_min_frames: int | None = None
    allow: tuple[str, ...] = ()
    blocklist: tuple[str, ...] = ()
    set_by: str = ""
    source: str = field(default="", compare=False)

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise GuardrailError(
                f"guard policy preset '{self.preset}' is unknown; choose one of {', '.join(PRESETS)}"
            )
        for name in ("classifier_threshold", "video_threshold"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0 < value < 1):
                raise GuardrailError(
                    f"guard policy {name} must lie in (0, 1), got {value!r}; a guard cannot be switched off"
                )
        frames = self.video_min_frames
        if frames is not None and (not isinstance(frames, int) or frames < 1):
            raise GuardrailError(f"guard policy video_min_frames must be an integer >= 1, got {frames!r}")
        if not all(isinstance(a, str) and a.strip() for a in self.allow):
            raise GuardrailError("guard policy allow must be a list of non-empty phrases")

    # -- the values in force ----------------------------------------------------------------------
    def value(self, name: str) -> Any:
        own = getattr(self, name)
        return PRESETS[self.preset][name] if own is None else own

    def relaxations(self, default_classifier_threshold: float) -> list[str]:
        """Every setting looser than the `default` preset, in words."""
        base = PRESETS["default"]
        out = [f"preset '{self.preset}' instead of 'default'"] if self.preset == "research" else []
        cls = self.value("classifier_threshold")
        if cls is not None and cls > default_classifier_threshold:
            out.append(f"classifier threshold {cls} > default {default_classifier_threshold}")
        if self.value("video_threshold") > base["video_threshold"]:
            out.append(f"video threshold {self.value('video_threshold')} > default {base['video_threshold']}")
        if self.value("video_min_frames") > base["video_min_frames"]:
            frames, default = self.value("video_min_frames"), base["video_min_frames"]
            out.append(f"video needs {frames} unsafe frames > default {default}")
        out.extend(f"allowlisted phrase '{a}'" for a in self.allow)
        return out

    def who(self) -> str:
        return self.set_by or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown user"

    def record(self, default_classifier_threshold: float) -> dict[str, Any]:
        """What run.json keeps: the settings in force, the relaxations, who set them, the file."""
        relaxed = self.relaxations(default_classifier_threshold)
        return {
            "preset": self.preset,
            "classifier_threshold": self.value("classifier_threshold") or default_classifier_threshold,
            "video_threshold": self.value("video_threshold"),
            "video_min_frames": self.value("video_min_frames"),
            "allow": list(self.allow),
            "blocklist": list(self.blocklist),
            "source": self.source or "built-in",
            "relaxations": relaxed,
            "set_by": self.who() if relaxed or self.set_by else "",
        }


def preset(name: str) -> GuardPolicy:
    return GuardPolicy(preset=name)


def load_policy(spec: str | os.PathLike | None) -> GuardPolicy:
    """A preset name (`strict`, `default`, `research`) or a YAML/JSON policy file; None is `default`."""
    if spec is None:
        return GuardPolicy()
    if str(spec) in PRESETS:
        return GuardPolicy(preset=str(spec), source=f"preset {spec}")
    path = Path(spec)
    if not path.is_file():
        raise GuardrailError(
            f"guard policy '{spec}' is neither a preset ({', '.join(PRESETS)}) nor a file; pass one"
        )
    try:
        text = path.read_text("utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise GuardrailError(f"guard policy file '{path}' is not valid YAML/JSON: {err}") from None
    if not isinstance(data, dict):
        raise GuardrailError(f"guard policy file '{path}' must be a mapping of {', '.join(KEYS)}")
    unknown = set(data) - set(KEYS)
    if unknown:
        raise GuardrailError(
            f"guard policy file '{path}' has unknown keys {sorted(unknown)}; use {', '.join(KEYS)} "
            "(a guard cannot be switched off by a policy)"
        )
    kw = {k: data[k] for k in KEYS if k in data}
    for key in ("allow", "blocklist"):
        if key in kw:
            if not isinstance(kw[key], list):
                raise GuardrailError(f"guard policy file '{path}': {key} must be a list")
            kw[key] = tuple(str(x) for x in kw[key])
    kw["blocklist"] = tuple(str((path.parent / b).resolve()) for b in kw.get("blocklist", ()))
    try:
        return GuardPolicy(**kw, source=str(path))
    except GuardrailError as err:
        raise GuardrailError(f"guard policy file '{path}': {err}") from None
