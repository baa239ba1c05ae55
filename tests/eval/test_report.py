from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from worldsmith.eval.report import Report, gif_bytes, side_by_side


def _frames(t=4, h=16, w=20, value=0):
    f = np.full((t, h, w, 3), value, np.uint8)
    f[:, :, :, 0] = np.arange(t).reshape(t, 1, 1) * 40
    return f


def test_report_embeds_everything(tmp_path):
    rep = Report("demo report")
    sec = rep.section("Physics alignment", "Held-out episodes.")
    sec.table(
        [{"method": "copy last", "psnr": 20.0}, {"method": "model", "psnr": 25.5}],
        highlight="psnr",
        caption="PSNR",
    )
    sec.video(side_by_side(_frames(), _frames(value=200)), fps=5, caption="truth | prediction")
    rep.section("Training").plot({"loss": [1.0, 0.5, 0.25]}, logy=True, caption="loss")
    path = rep.write(tmp_path / "r.html")
    text = path.read_text()
    assert text.count("<section") == 2 and 'href="#physics-alignment"' in text
    assert re.search(r'<tr class="best"><td>model</td>', text)
    uris = re.findall(r'src="data:(image/\w+);base64,([^"]+)"', text)
    assert [m for m, _ in uris] == ["image/gif", "image/png"]
    gif = Image.open(io.BytesIO(base64.b64decode(uris[0][1])))
    assert gif.n_frames == 4 and gif.size == (2 * (20 + 2 + 20), 32)  # scale 2, two videos + gap
    assert Image.open(io.BytesIO(base64.b64decode(uris[1][1]))).format == "PNG"


def test_text_is_escaped():
    rep = Report("<script>")
    rep.section("a & b").text("<b>not bold</b>")
    out = rep.html()
    assert "<script>" not in out.replace("<style>", "") and "&lt;b&gt;not bold&lt;/b&gt;" in out


def test_bad_video_rejected():
    with pytest.raises(ValueError, match="uint8"):
        gif_bytes(np.zeros((2, 4, 4, 3), np.float32), fps=2)


def test_renders_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium) - screenshot check skipped")
    rep = Report("render check")
    rep.section("Videos").video(_frames(value=120), fps=4, caption="clip")
    page = rep.write(tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=800,600", page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (600, 800) and img.std() > 5  # not a blank page


def test_folded_tables_sit_in_closed_details():
    rep = Report("r")
    sec = rep.section("Overview")
    sec.table([{"method": "model", "psnr": 25.0}], caption="headline")
    sec.table([{"setting": f"k{i}", "value": i} for i in range(32)], caption="settings", fold=True)
    text = rep.html()
    head, folded = text.split("<details>", 1)
    assert "headline" in head and "settings" not in head  # the headline stays open, before the fold
    assert folded.startswith("<summary>settings (32 rows)</summary>") and folded.count("<tr>") == 33
    assert "<details open" not in text
