"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric"), computed from weights on local disk; nothing is downloaded.

LPIPS compares two images through an ImageNet-trained backbone: at five ReLU taps, features are
unit-normalised over channels, their squared difference is weighted per channel by a learned
linear layer (the "lin" calibration, v0.1), averaged over space and summed over taps. Inputs are
first shifted and scaled channel-wise (the v0.1 "scaling layer").

Two sets of weights are needed:

- the backbone, as torchvision saves it (``alexnet-owt-7be5be79.pth`` or
  ``vgg16-397923af.pth`` in the torch hub cache, ``~/.cache/torch/hub/checkpoints/``), or the same
  keys in a ``.safetensors`` file;
- the linear calibration ``{alex,vgg}.pth`` that the ``lpips`` wheel ships in
  ``lpips/weights/v0.1/``: found in an installed ``lpips`` package (never imported: it needs
  torchvision) unless a path is given.

Only the backbones LPIPS was calibrated on are offered (AlexNet, the paper's default, and VGG-16).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from worldsmith.errors import CheckpointError, ConfigError

# (in, out, kernel, stride, padding) of the convolutions of torchvision's `features`, keyed by index;
# max-pool positions; and the indices of the ReLUs LPIPS reads.
_ALEX = {
    "convs": {0: (3, 64, 11, 4, 2), 3: (64, 192, 5, 1, 2), 6: (192, 384, 3, 1, 1), 8: (384, 256, 3, 1, 1),
              10: (256, 256, 3, 1, 1)},
    "pools": (2, 5),
    "taps": (1, 4, 7, 9, 11),
}  # fmt: skip
_VGG_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)


def _vgg16_layout() -> dict:
    convs, pools, index, c_in = {}, [], 0, 3
    for w in _VGG_WIDTHS:
        if w == "M":
            pools.append(index)
            index += 1
        else:
            convs[index] = (c_in, w, 3, 1, 1)
            c_in = w
            index += 2  # conv, ReLU
    return {"convs": convs, "pools": tuple(pools), "taps": (3, 8, 15, 22, 29)}


LAYOUTS = {"alex": _ALEX, "vgg": _vgg16_layout()}
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


class LPIPS(nn.Module):
    """LPIPS distance. ``LPIPS.from_files(backbone, net="alex")(a, b)`` on images in [-1, 1]
    ``[N, 3, H, W]`` returns ``[N]`` distances (0 for identical images)."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in LAYOUTS:
            raise ConfigError(f"LPIPS net '{net}' is not one LPIPS was calibrated on; choose alex or vgg")
        self.net = net
        layout = LAYOUTS[net]
        n_layers = max(layout["taps"]) + 1
        layers: list[nn.Module] = []
        for i in range(n_layers):
            if i in layout["convs"]:
                c_in, c_out, k, s, p = layout["convs"][i]
                layers.append(nn.Conv2d(c_in, c_out, k, s, p))
            elif i in layout["pools"]:
                layers.append(nn.MaxPool2d(3, 2) if net == "alex" else nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.ReLU())
        self.features = nn.Sequential(*layers)
        self.taps = layout["taps"]
        widths = [layout["convs"][max(k for k in layout["convs"] if k < t)][1] for t in self.taps]
        self.lins = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in widths])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    @classmethod
    def from_files(
        cls, backbone: str | os.PathLike, *, net: str = "alex", linear: str | os.PathLike | None = None
    ) -> LPIPS:
        """Load the torchvision backbone weights `backbone` and the lin calibration `linear`
        (default: the installed ``lpips`` package's v0.1 file for `net`)."""
        model = cls(net)
        feats = {k.removeprefix("features."): v for k, v in _load(backbone, "LPIPS backbone").items()}
        feats = {k: v for k, v in feats.items() if k.split(".")[0].isdigit()}  # drop the classifier
        want = {k for k in model.features.state_dict()}
        if set(feats) - want or want - set(feats):
            missing, extra = sorted(want - set(feats)), sorted(set(feats) - want)
            raise CheckpointError(
                f"{backbone}: not torchvision {net} weights (missing {missing[:4]}, unexpected {extra[:4]}); "
                f"pass the {'alexnet-owt-*.pth' if net == 'alex' else 'vgg16-*.pth'} file of torchvision"
            )
        try:
            model.features.load_state_dict(feats)
        except RuntimeError as err:
            raise CheckpointError(f"{backbone}: shapes do not match torchvision {net} ({err})") from err
        lin_path = Path(linear) if linear is not None else default_linear_weights(net)
        lins = _load(lin_path, "LPIPS linear calibration")
        for i, p in enumerate(model.lins):
            key = f"lin{i}.model.1.weight"
            if key not in lins or lins[key].shape != p.shape:
                raise CheckpointError(
                    f"{lin_path}: no {key} of shape {tuple(p.shape)}; is it the {net} file?"
                )
            p.copy_(lins[key])
        return model

    def layer_distances(self, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
        """Per-tap contributions ``[N]``; their sum is LPIPS."""
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise ValueError(
                f"LPIPS takes two [N, 3, H, W] images, got {tuple(a.shape)} and {tuple(b.shape)}"
            )
        x = torch.cat([a, b]).float()
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                fa, fb = x.chunk(2)
                fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                w = self.lins[self.taps.index(i)]
                out.append(((fa - fb) ** 2 * w).sum(1).mean((1, 2)))
        return out

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.layer_distances(a, b)).sum(0)

    @torch.no_grad()
    def video(self, pred: np.ndarray, target: np.ndarray, batch: int = 8) -> np.ndarray:
        """Per-frame LPIPS of two uint8 videos ``[T, H, W, 3]`` (the I/O layout)."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")

        def to_model(v: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(v)).permute(0, 3, 1, 2).float() / 127.5 - 1

        out = [
            self(to_model(pred[i : i + batch]), to_model(target[i : i + batch]))
            for i in range(0, len(pred), batch)
        ]
        return torch.cat(out).numpy()


def default_linear_weights(net: str) -> Path:
    """The v0.1 calibration file of `net` inside an installed ``lpips`` package (not imported)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "LPIPS needs its linear calibration weights: `pip install --no-deps lpips` (they ship in the "
            "wheel) or pass linear=PATH to an {alex,vgg}.pth file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / f"{net}.pth"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing from the installed lpips package; reinstall it")
    return path


def _load(path: str | os.PathLike, what: str) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what}: {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's input
        raise CheckpointError(f"{what}: cannot read {path} ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{what}: {path} is not a state dict of tensors")
    return state


__all__ = ["LPIPS", "LAYOUTS", "default_linear_weights"]
