"""Caption: a `Captioner` protocol and its backends. A clip with no caption source keeps an empty
caption and `caption_source = ""` (a flag in the manifest): captions are never invented.

Backends:
- `SidecarCaptioner`: captions that came with the video: `<stem>.txt` next to it, a sim episode's
  `meta.json` (`caption`), or a sim footage truth file `<stem>.json` whose `shots` carry captions
  (the clip takes the caption of the shot it overlaps most).
- `VLMCaptioner` (in `vlm.py`): any local image-text-to-text model through `transformers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from worldsmith.config import check
from worldsmith.curate.stage import ClipStage, Resources
from worldsmith.curate.stages.vlm import CAPTION_PROMPT, VLMCaptioner
from worldsmith.curate.tasks import ClipTask
from worldsmith.data import sidecar_caption


@dataclass(frozen=True, kw_only=True)
class CaptionConfig:
    backend: str = "sidecar"  # sidecar | vlm | none
    model: str = ""  # vlm: a local model folder or a Hugging Face cache name
    frames: int = 4  # vlm: frames sampled from the clip
    max_new_tokens: int = 128
    prompt: str = CAPTION_PROMPT

    def __post_init__(self) -> None:
        check(
            self.backend in ("sidecar", "vlm", "none"),
            "caption.backend",
            self.backend,
            "must be sidecar|vlm|none",
        )
        check(
            self.backend != "vlm" or bool(self.model),
            "caption.model",
            self.model,
            "is needed for backend vlm",
        )


@runtime_checkable
class Captioner(Protocol):
    def caption(self, clip: ClipTask) -> tuple[str, str] | None:
        """(caption, source) for `clip`, or None when this backend has nothing to say."""
        ...


class SidecarCaptioner:
    """The caption that came with the clip's video (`worldsmith.data.sidecar_caption`)."""

    def caption(self, clip: ClipTask) -> tuple[str, str] | None:
        return sidecar_caption(clip.source, clip.start, clip.end)


class CaptionStage(ClipStage):
    """Sidecar captions first (they are ground truth); the VLM, when configured, for the rest."""

    name = "caption"
    resources = Resources(cpus=1.0)

    def __init__(self, config: CaptionConfig | None = None):
        self.config = config or CaptionConfig()
        self.backends: list[Captioner] = []

    def setup(self) -> None:
        if self.backends or self.config.backend == "none":
            return
        self.backends = [SidecarCaptioner()]
        if self.config.backend == "vlm":
            c = self.config
            self.backends.append(
                VLMCaptioner(c.model, frames=c.frames, prompt=c.prompt, max_new_tokens=c.max_new_tokens)
            )

    def process_clip(self, clip: ClipTask) -> None:
        self.setup()
        for backend in self.backends:
            found = backend.caption(clip)
            if found:
                clip.caption, clip.caption_source = found
                return
        clip.caption, clip.caption_source = "", ""
