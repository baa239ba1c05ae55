"""kill -9 in the middle of a curation run, rerun: no duplicated and no missing clips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from curate_helpers import make_video  # noqa: E402

from worldsmith.curate.pipeline import curate  # noqa: E402

SCRIPT = "import sys; from worldsmith.curate.pipeline import curate; curate(sys.argv[1], sys.argv[2])"


def _kept(out: Path) -> dict[str, bool]:
    return {
        r["clip_id"]: r["kept"] for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())
    }


def test_kill9_then_rerun_matches_clean_run(tmp_path):
    raw = tmp_path / "raw"
    for k in range(4):
        make_video(raw / f"v{k}.mp4", [(10 * k + 1, 2.5, 2.0), (10 * k + 2, 2.5, 1.0)])
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(raw), str(killed)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        states = list((killed / "state").glob("*.json")) if (killed / "state").exists() else []
        # (not the hidden temporary file of an atomic write still under way: glob's * matches it)
        if [p for p in states if not p.name.startswith(".")]:  # one video done, the next under way
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "manifest.jsonl").exists()

    summary = curate(raw, killed)
    assert 1 <= summary["resumed_videos"] < 4
    clean = tmp_path / "clean"
    curate(raw, clean)
    assert _kept(killed) == _kept(clean)
    assert sum(_kept(clean).values()) == 8

    keys = []
    for shard in sorted((killed / "shards").rglob("*.tar")):
        with tarfile.open(shard) as tar:
            keys += [m.name.rsplit(".", 1)[0] for m in tar if m.name.endswith(".mp4")]
    assert sorted(keys) == sorted(k for k, kept in _kept(killed).items() if kept)  # none twice, none missing
    assert not [p for p in killed.rglob("*") if ".tmp" in p.name]
