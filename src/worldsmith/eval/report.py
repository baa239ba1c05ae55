"""A self-contained HTML report: sections of text, tables, plots (PNG) and videos (GIF), one file.

    report = Report("worldsmith demo")
    sec = report.section("Physics alignment", "Held-out episodes, 9 conditioning frames.")
    sec.table([{"method": "copy last frame", "PSNR": 21.3}, ...])
    sec.video(frames, fps=10, caption="ground truth | prediction")
    sec.plot({"train loss": losses}, xlabel="step", ylabel="loss", logy=True)
    report.write("runs/demo/report.html")

Everything is embedded as data URIs (GIF for videos, since every browser plays it; PNG for plots),
so the file can be mailed or attached to an issue as is.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from worldsmith import fs

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
tr.best td { font-weight: bold; background: #eef8ee; }
figure { display: inline-block; margin: .5rem 1rem .5rem 0; vertical-align: top; }
figcaption { font-size: .85rem; color: #555; max-width: 420px; }
img.video { image-rendering: pixelated; border: 1px solid #999; }
.note { color: #555; font-size: .9rem; }
details { margin: .6rem 0; } summary { cursor: pointer; color: #555; }
"""


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _as_frames(frames: Any) -> np.ndarray:
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"report videos must be uint8 [T, H, W, 3], got {array.dtype} {array.shape}")
    return array


def gif_bytes(frames: Any, fps: float, *, scale: int = 1) -> bytes:
    """Encode uint8 [T, H, W, 3] frames as an animated GIF (nearest-neighbour upscaled by `scale`)."""
    array = _as_frames(frames)
    if scale > 1:
        array = array.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(a) for a in array]
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    return buf.getvalue()


def side_by_side(*videos: Any, gap: int = 2) -> np.ndarray:
    """Concatenate videos of equal length and height along the width, white gaps between them."""
    arrays = [_as_frames(v) for v in videos]
    t = min(len(a) for a in arrays)
    h = arrays[0].shape[1]
    spacer = np.full((t, h, gap, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for i, a in enumerate(arrays):
        if a.shape[1] != h:
            raise ValueError("side_by_side needs videos of equal height")
        parts += ([spacer] if i else []) + [a[:t]]
    return np.concatenate(parts, axis=2)  # [T, H, sum(W) + gaps, 3]


@dataclass
class Section:
    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, text: str) -> Section:
        self.parts.append(f"<p>{html.escape(text)}</p>")
        return self

    def note(self, text: str) -> Section:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')
        return self

    def table(
        self,
        rows: list[dict[str, Any]],
        *,
        caption: str | None = None,
        highlight: str | None = None,
        higher_is_better: bool = True,
        digits: int = 3,
        fold: bool = False,
    ) -> Section:
        """A table from a list of dicts (columns = union of keys, in order). `highlight` marks the
        row with the best value of that column. `fold` puts it in a closed <details> (settings,
        per-item rows: there to check, not to read first)."""
        if not rows:
            return self.note(f"{caption or 'table'}: no rows")
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        best = None
        if highlight is not None:
            vals = [
                (r.get(highlight), i)
                for i, r in enumerate(rows)
                if isinstance(r.get(highlight), (int, float))
            ]
            vals = [(v, i) for v, i in vals if np.isfinite(v)]
            if vals:
                best = (max if higher_is_better else min)(vals)[1]

        def fmt(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.{digits}g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.{digits}f}"
            return html.escape(str(v))

        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(caption)}</caption>")
        out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
        for i, r in enumerate(rows):
            cls = ' class="best"' if i == best else ""
            out.append(f"<tr{cls}>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>")
        out.append("</table>")
        table = "\n".join(out)
        if fold:
            summary = html.escape(f"{caption or 'table'} ({len(rows)} rows)")
            table = f"<details><summary>{summary}</summary>\n{table}\n</details>"
        self.parts.append(table)
        return self

    def video(self, frames: Any, fps: float, *, caption: str = "", scale: int = 2) -> Section:
        uri = _data_uri("image/gif", gif_bytes(frames, fps, scale=scale))
        self.parts.append(
            f'<figure><img class="video" src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def image(self, png: bytes, *, caption: str = "") -> Section:
        self.parts.append(
            f'<figure><img src="{_data_uri("image/png", png)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def plot(
        self,
        series: dict[str, Any],
        *,
        xlabel: str = "step",
        ylabel: str = "",
        title: str = "",
        logy: bool = False,
        caption: str = "",
    ) -> Section:
        """Line plot of named series (a list of y, or a pair (x, y)) rendered to PNG by matplotlib."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=100)
        for name, data in series.items():
            x, y = data if isinstance(data, tuple) else (range(len(data)), data)
            ax.plot(list(x), list(y), label=name)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return self.image(buf.getvalue(), caption=caption)

    def html(self) -> str:
        anchor = html.escape(self.title.lower().replace(" ", "-"))
        return (
            f'<section id="{anchor}"><h2>{html.escape(self.title)}</h2>\n'
            + "\n".join(self.parts)
            + "</section>"
        )


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str, intro: str = "") -> Section:
        sec = Section(title)
        if intro:
            sec.text(intro)
        self.sections.append(sec)
        return sec

    def html(self) -> str:
        toc = "".join(
            f'<li><a href="#{html.escape(s.title.lower().replace(" ", "-"))}">{html.escape(s.title)}</a></li>'
            for s in self.sections
        )
        body = "\n".join(s.html() for s in self.sections)
        return (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1><ul>{toc}</ul>\n{body}\n"
            "</body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        return fs.write_text(path, self.html())
