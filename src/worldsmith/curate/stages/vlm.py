"""A `Captioner` backed by any local vision-language model through `transformers`
(image-text-to-text: LLaVA, Qwen2-VL, SmolVLM, ...), selected by a folder or a Hugging Face cache
name. Nothing is downloaded: `local_files_only=True`.

Frames are sampled evenly through the clip and given to the model as images, with a prompt that
asks for objects, motion, camera and physics (the Cosmos captioner prompt asks to elaborate on
visual and narrative elements in detail).
"""

from __future__ import annotations

import numpy as np

from worldsmith.curate.stages.embed import even_frames
from worldsmith.curate.tasks import ClipTask
from worldsmith.errors import WorldsmithError

# Cosmos' captioner prompt asks for detail on visual and narrative elements; ours names the
# physical facts a world model needs.
CAPTION_PROMPT = (
    "Describe this video in detail: the objects and their appearance, how they move and interact, "
    "the camera's motion, and the physics of the scene."
)


class VLMCaptioner:
    def __init__(self, model: str, *, frames: int = 4, prompt: str = "", max_new_tokens: int = 128):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(model, local_files_only=True)
            self.model = AutoModelForImageTextToText.from_pretrained(model, local_files_only=True).eval()
        except (OSError, ValueError) as err:
            raise WorldsmithError(
                f"caption.model '{model}' cannot be loaded offline as an image-text-to-text model: {err}; "
                "point it at a local folder with the model and its processor"
            ) from None
        self.torch, self.name = torch, model
        self.frames, self.prompt, self.max_new_tokens = frames, prompt or CAPTION_PROMPT, max_new_tokens

    def _inputs(self, images: list[np.ndarray]):
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": self.prompt}]
        messages = [{"role": "user", "content": content}]
        if getattr(self.processor, "chat_template", None):
            text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        else:  # processors without a chat template: image tokens, then the prompt
            token = getattr(self.processor, "image_token", "<image>")
            text = token * len(images) + "\n" + self.prompt
        return self.processor(images=images, text=text, return_tensors="pt")

    def caption_frames(self, frames: np.ndarray) -> str:
        """A caption for uint8 [N, H, W, 3] frames."""
        inputs = self._inputs(list(frames))
        with self.torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]  # [1, new tokens]
        return self.processor.batch_decode(new, skip_special_tokens=True)[0].strip()

    def caption(self, clip: ClipTask) -> tuple[str, str] | None:
        frames = even_frames(
            clip.path or clip.source, clip.num_frames or clip.end - clip.start, self.frames, None
        )
        text = self.caption_frames(frames)
        return (text, f"vlm:{self.name}") if text else None
