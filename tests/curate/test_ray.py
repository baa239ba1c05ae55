"""The Ray runner produces the same manifest as the sequential one (slow: a local Ray cluster)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from curate_helpers import make_corpus  # noqa: E402

from worldsmith.curate.pipeline import curate  # noqa: E402
from worldsmith.curate.runners import RayRunner, SequentialRunner  # noqa: E402


def _rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for r in rows:  # run-local timing-free content only; paths differ by out folder
        r.pop("shard", None)
    return rows


@pytest.mark.slow
def test_ray_and_sequential_manifests_are_equal(tmp_path):
    pytest.importorskip("ray")
    corpus = make_corpus(tmp_path / "raw")
    seq = curate(corpus["root"], tmp_path / "seq", runner=SequentialRunner())
    ray_ = curate(corpus["root"], tmp_path / "ray", runner=RayRunner(workers=2, num_cpus=2))
    assert _rows(tmp_path / "seq") == _rows(tmp_path / "ray")
    failures = [(tmp_path / d / "failures.jsonl").read_text() for d in ("seq", "ray")]
    assert failures[0] == failures[1] and failures[0].count("\n") == 5
    assert seq["clips_kept"] == ray_["clips_kept"] > 0
    assert set(ray_["stage_s"]) >= {"ingest", "split", "transcode", "filter", "caption", "embed"}
