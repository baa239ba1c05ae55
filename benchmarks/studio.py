"""Studio: time to first paint of the runs page with 200 runs, and the server's memory.

    .venv/bin/python benchmarks/studio.py [--runs 200] [--repeats 5]

A runs folder of `--runs` run directories as the CLI writes them (run.json with args, versions and
results; a 500-step metrics.jsonl; every 10th run a small mp4) is served by the real command,
``worldsmith studio --runs DIR`` (a subprocess), and opened in Debian's headless chromium through
Playwright, a fresh page per repeat. Measured in the page (ms from navigation start):
- first contentful paint (the browser's `paint` timing), and
- "runs table painted": the end of the first frame painted with all rows in the table.
The peer, in the same run: the same table rendered server side into one static HTML page (what a
static report of the runs would be), served by Python's ``http.server`` and timed the same way.
Memory: the server's resident set (VmRSS from /proc) after start and after the repeats (each loads
the runs list and one run page), beside a bare ``python -c "import torch"`` (what any worldsmith
command that touches a model holds).

Targets: the runs table painted within 1 s with 200 runs, and within 2x of the static page;
serving the pages grows the server by < 50 MB.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from worldsmith import fs
from worldsmith.machine import write_result
from worldsmith.video import io

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAINTED = "() => document.querySelectorAll('tr[data-run]').length >= {n}"


def make_runs(root: Path, n: int) -> None:
    versions = {"worldsmith": "0.1.0", "python": "3.11", "torch": "2.13.0", "numpy": "2", "av": "14"}
    for i in range(n):
        run = root / f"exp{i // 50}" / f"run-{i:04d}"
        info = {
            "command": ["train diffusion", "generate video2world", "tokenizer train", "curate"][i % 4],
            "args": {"steps": 500, "lr": 2e-3, "data": "videos/", "out": str(run)},
            "seed": i, "versions": versions, "argv": ["worldsmith"], "status": "ok" if i % 7 else "failed",
            "started": f"2026-12-06T{(i // 60) % 24:02d}:{i % 60:02d}:00+0000", "wall_time_s": 12.5 + i,
            "results": {"loss_last": 0.1 + i / 1000, "params": 123456, "methods": {"a": {"psnr": 24.0}}},
        }  # fmt: skip
        fs.write_json(run / "run.json", info)
        lines = [json.dumps({"step": s, "loss": 1 / (s + 1), "lr": 2e-3}) for s in range(500)]
        fs.write_text(run / "train" / "metrics.jsonl", "\n".join(lines) + "\n")
        if i % 10 == 0:
            frames = np.zeros((16, 32, 32, 3), np.uint8)
            io.write(run / "video.mp4", frames, fps=8)


def static_page(root: Path, runs: list[dict]) -> Path:
    cells = ("id", "command", "status", "wall_time_s", "seed", "started")
    rows = "".join(
        f"<tr data-run='{html.escape(r['id'])}'>"
        + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cells)
        + "</tr>"
        for r in runs
    )
    page = f"<!doctype html><html><body><h1>Runs</h1><table>{rows}</table></body></html>"
    return fs.write_text(root / "static" / "index.html", page)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    t0 = time.time()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.time() - t0 > timeout:
                raise
            time.sleep(0.1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def torch_rss_mb() -> float:
    code = "import torch, sys; print(open('/proc/self/status').read())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return next(int(ln.split()[1]) / 1024 for ln in out.splitlines() if ln.startswith("VmRSS:"))


# After the rows are in: the time once that frame is painted (the next task after its animation frame),
# and the first-contentful-paint entry (waited for: it may be recorded after the rows are in).
MEASURE = """async () => {
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const painted = performance.now();
  const fcp = await new Promise((resolve) => {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.name === "first-contentful-paint") resolve(e.startTime);
    }).observe({ type: "paint", buffered: true });
    setTimeout(() => resolve(NaN), 5000);
  });
  return { painted_ms: painted, fcp_ms: fcp };
}"""


def time_page(browser, url: str, n: int, then: str | None = None) -> dict[str, float]:
    page = browser.new_page()
    page.goto(url, wait_until="commit")
    page.wait_for_function(PAINTED.replace("{n}", str(n)), polling="raf", timeout=60_000)
    times = page.evaluate(MEASURE)
    if then:  # open one run page too (the server reads its files)
        page.goto(then)
        page.wait_for_selector("h2")
    page.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "studio.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    make_runs(tmp / "runs", args.runs)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "WORLDSMITH_PROGRESS": "0"}
    port, static_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "worldsmith.cli", "studio", "--runs", str(tmp / "runs"), "--port", str(port)]
    server = subprocess.Popen([*cmd, "--guard", "blocklist"], env=env, stderr=subprocess.DEVNULL)
    static = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1"],
        cwd=tmp / "runs", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/runs")
        rss_start = rss_mb(server.pid)
        runs = json.loads(urllib.request.urlopen(base + "/api/runs").read())["runs"]
        assert len(runs) == args.runs, len(runs)
        static_page(tmp / "runs", runs)
        wait_http(f"http://127.0.0.1:{static_port}/static/index.html")
        t0 = time.perf_counter()
        urllib.request.urlopen(base + "/api/runs").read()
        api_ms = (time.perf_counter() - t0) * 1000
        studio, peer = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            static_url = f"http://127.0.0.1:{static_port}/static/index.html"
            for _ in range(args.repeats):  # interleaved: the machine's load hits both alike
                studio.append(
                    time_page(browser, base + "/#/runs", args.runs, then=base + "/#/run/exp0/run-0000")
                )
                peer.append(time_page(browser, static_url, args.runs))
            browser.close()
        rss_end = rss_mb(server.pid)
    finally:
        server.terminate()
        static.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {
        name: {k: round(statistics.median(r[k] for r in rows), 1) for k in ("fcp_ms", "painted_ms")}
        for name, rows in (("studio", studio), ("static page", peer))
    }
    torch_mb = torch_rss_mb()
    painted, peer_painted = med["studio"]["painted_ms"], med["static page"]["painted_ms"]
    targets = [
        {"target": f"runs table painted with {args.runs} runs < 1000 ms", "value": painted,
         "reference": 1000.0, "met": painted < 1000.0},
        {"target": "runs table painted within 2x of a static HTML page", "value": painted,
         "reference": 2 * peer_painted, "met": painted < 2 * peer_painted},
        {"target": "server RSS growth while serving < 50 MB", "value": rss_end - rss_start,
         "reference": 50.0, "met": rss_end - rss_start < 50.0},
    ]  # fmt: skip
    table = Table(title=f"studio: runs page with {args.runs} runs (median of {args.repeats}, ms)")
    for col in ("page", "first contentful paint", "runs table painted"):
        table.add_column(col)
    for name, m in med.items():
        table.add_row(name, f"{m['fcp_ms']:.0f}", f"{m['painted_ms']:.0f}")
    console = Console()
    console.print(table)
    console.print(
        f"/api/runs warm: {api_ms:.1f} ms; server RSS {rss_start:.0f} MB at start, {rss_end:.0f} MB "
        f"after the pages; bare `import torch`: {torch_mb:.0f} MB"
    )
    for t in targets:
        mark = "met   " if t["met"] else "MISSED"
        console.print(f"{mark} {t['target']}: {t['value']:.1f} (reference {t['reference']:.1f})")
    write_result(args.out, {
        "runs": args.runs, "repeats": args.repeats, "median_ms": med, "api_runs_warm_ms": api_ms,
        "server_rss_mb": {"start": rss_start, "after_pages": rss_end}, "import_torch_rss_mb": torch_mb,
        "samples": {"studio": studio, "static page": peer}, "targets": targets,
    })  # fmt: skip


if __name__ == "__main__":
    main()
