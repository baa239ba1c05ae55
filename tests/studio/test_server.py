"""The Studio's HTTP API through FastAPI's TestClient: views, ranges, refusals, uploads, generation."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from studio_helpers import FPS, LOSSES, ramp, snapshot

from worldsmith import fs
from worldsmith.studio.server import CSRF_HEADER, LOOPBACK_HOSTS, create_app
from worldsmith.studio.uploads import UploadLimits
from worldsmith.video import io

POST = {CSRF_HEADER: "1"}


@pytest.fixture(scope="module")
def client(runs_root):
    app = create_app(runs_root, guard="blocklist", limits=UploadLimits(max_bytes=200_000, max_frames=100))
    with TestClient(app) as c:
        yield c


def test_runs_list_and_run_page(client):
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["train-a"]["command"] == "train diffusion" and runs["train-a"]["status"] == "ok"
    assert runs["train-a"]["seed"] == 3 and runs["train-a"]["wall_time_s"] >= 0
    page = client.get("/api/runs/train-a").json()
    tables = {t["name"]: t["rows"] for t in page["tables"]}
    assert {"key": "params", "value": 123} in tables["results"]
    assert tables["results.methods"] == [
        {"name": "world model", "psnr": 24.0},
        {"name": "copy last", "psnr": 22.0},
    ]
    assert tables["physics_rows.json"] == [{"scenario": "drop", "psnr": 21.5}]
    (curve,) = page["curves"]
    assert curve["name"] == "train" and curve["series"]["loss"] == [[i + 1, v] for i, v in enumerate(LOSSES)]
    group = next(g for g in page["videos"] if g["name"] == "ep0")  # same name, two folders: side by side
    labels = [v["label"] for v in group["videos"]]  # truth | prediction | baselines
    assert labels == ["truth", "pred", "baseline_copy_last"]
    assert all(v["fps"] == pytest.approx(FPS) for v in group["videos"])
    assert page["images"] == [{"label": "frame.png", "url": "/files/train-a/frame.png"}]
    assert client.get("/").status_code == 200 and "studio" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200


def test_files_answer_range_requests(client, runs_root):
    whole = (runs_root / "train-a" / "truth" / "ep0.mp4").read_bytes()
    url = "/files/train-a/truth/ep0.mp4"
    full = client.get(url)
    assert full.status_code == 200 and full.content == whole and full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    part = client.get(url, headers={"Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == whole[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(whole)}"
    assert client.get(url, headers={"Range": "bytes=-16"}).content == whole[-16:]  # suffix range
    assert client.get(url, headers={"Range": f"bytes={len(whole) - 5}-"}).content == whole[-5:]
    bad = client.get(url, headers={"Range": f"bytes={len(whole) + 10}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(whole)}"


@pytest.mark.parametrize(
    "url, status",
    [("/files/..%2F..%2Fetc%2Fpasswd", 400), ("/files/escape/secret.txt", 403),
     ("/files/train-a/secret.txt", 403), ("/api/runs/..%2F..", 400), ("/api/runs/escape", 403),
     ("/files/%2Fetc%2Fpasswd", 400),
     ("/api/data?manifest=..%2F..", 400), ("/files/train-a/nope.mp4", 404), ("/api/runs/curated", 404),
     ("/api/nothing", 404)],
)  # fmt: skip
def test_traversal_and_bad_paths_get_clear_errors(client, url, status):
    res = client.get(url)
    assert res.status_code == status and res.json()["error"]
    assert "not for the studio" not in res.text


def test_data_filters_drop_reasons_and_duplicate_groups(client):
    def q(**params):
        res = client.get("/api/data", params={"manifest": "curated", **params})
        assert res.status_code == 200, res.text
        return res.json()

    everything = q()
    assert everything["total"] == 4 and everything["facets"]["dropped_by"] == ["dedup", "filter.dark"]
    assert everything["facets"]["scores"]["score_motion"] == [1.0, 4.0]
    assert [r["clip_id"] for r in q(kept="dropped")["rows"]] == ["vid_2", "vid_3"]
    assert q(dropped_by="filter.dark")["rows"][0]["drop_reason"] == "mean luma 4.1 < 20"
    assert [r["clip_id"] for r in q(q="RED ball")["rows"]] == ["vid_0", "vid_3"]  # every word, any case
    assert [r["clip_id"] for r in q(min_score_aesthetic="0.5", max_score_motion="3")["rows"]] == ["vid_2"]
    assert [r["clip_id"] for r in q(bucket="32x32_1:1_32f")["rows"]] == ["vid_1", "vid_3"]
    page = q(kept="kept", q="red")  # vid_0 only, but its duplicate group brings vid_3 along
    assert [r["clip_id"] for r in page["rows"]] == ["vid_0"] and page["rows"][0]["group"] == 0
    assert [c["clip_id"] for c in page["groups"][0]["clips"]] == ["vid_0", "vid_3"]
    assert client.get(page["rows"][0]["url"]).status_code == 200
    assert client.get("/api/manifests").json()["manifests"] == ["curated"]
    for params, needle in [({"min_score_nope": "1"}, "unknown filter"), ({"min_score_motion": "x"}, "number"),
                           ({"limit": "0"}, "limit"), ({"kept": "maybe"}, "kept")]:  # fmt: skip
        res = client.get("/api/data", params={"manifest": "curated", **params})
        assert res.status_code == 400 and needle in res.json()["error"]


def test_uploads_are_limited_checked_and_decoded(client, runs_root, tmp_path):
    def up(name, body, headers=POST):
        return client.post("/api/uploads", params={"name": name}, content=body, headers=headers)

    good = io.write(tmp_path / "clip.mp4", ramp(T=12), fps=FPS).read_bytes()
    assert up("clip.mp4", good, headers={}).status_code == 403  # no CSRF header: refused
    res = up("clip.exe", good)
    assert res.status_code == 415 and ".mp4" in res.json()["error"]
    res = up("big.mp4", b"\0" * 300_000)
    assert res.status_code == 413 and "limit" in res.json()["error"]
    res = up("broken.mp4", good[: len(good) // 3])
    assert res.status_code == 400 and "broken.mp4" in res.json()["error"]  # the CLI's VideoError, renamed
    assert res.json()["error"].count("\n") == 0
    long = io.write(tmp_path / "long.mp4", ramp(T=120, size=16), fps=FPS).read_bytes()
    res = up("long.mp4", long)
    assert res.status_code == 400 and "limit is 100" in res.json()["error"]
    res = up("clip.mp4", good)
    assert res.status_code == 200, res.text
    saved = runs_root / res.json()["video"]
    assert saved.read_bytes() == good and saved.parent == runs_root / ".studio" / "uploads"
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # refused uploads left nothing
    assert res.json()["video"] in client.get("/api/videos").json()["videos"]


def wait(client, job, timeout=60.0):
    t0 = time.time()
    while job["status"] not in ("ok", "failed"):
        assert time.time() - t0 < timeout, job
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def test_generate_lands_a_run_like_the_cli(client, runs_root):
    ckpts = {c["path"]: c for c in client.get("/api/checkpoints").json()["checkpoints"]}
    assert set(ckpts) == {"wm/model", "robot/model", "robot/base"}
    ckpt = ckpts["wm/model"]
    assert ckpt["video2world"] and ckpt["latent_size"] == [3, 4, 4] and ckpt["actions"] is None
    body = {"ckpt": "wm/model", "video": "clips/input.mp4", "prompt": "a box", "steps": 3, "seed": 5}
    job = client.post("/api/generate", json=body, headers=POST).json()
    job = wait(client, job)
    assert job["status"] == "ok", job["error"]
    assert job["step"] == job["steps"] == 3  # progress reached every sampler step
    run = json.loads((runs_root / job["run"] / "run.json").read_text())
    assert run["command"] == "generate video2world" and run["status"] == "ok" and run["seed"] == 5
    assert run["args"]["guard"] == "blocklist" and run["results"]["given_latent_frames"] == 1
    assert io.probe(runs_root / job["run"] / "video.mp4").num_frames == 9
    assert (runs_root / job["run"] / "input.mp4").read_bytes() == (runs_root / "clips/input.mp4").read_bytes()
    assert job["run"] in {r["id"] for r in client.get("/api/runs").json()["runs"]}
    (group,) = [g for g in client.get(f"/api/runs/{job['run']}").json()["videos"] if g["name"] == "this run"]
    assert [v["label"] for v in group["videos"]] == ["input.mp4", "video.mp4"]


@pytest.mark.parametrize(
    "body, status, needle",
    [({"ckpt": "wm/model", "prompt": "a video of a man stabbing a child with a knife"}, 400, "blocked"),
     ({"ckpt": "wm/model", "prompt": "a box", "guard": "none"}, 400, "unknown config key 'guard'"),
     ({"ckpt": "wm/model", "steps": 0}, 400, "steps"), ({"ckpt": "wm/model", "sampler": "x"}, 400, "euler"),
     ({"ckpt": "wm/model", "steps": "3"}, 400, "steps"),
     ({"ckpt": "../wm/model"}, 400, "without '..'"), ({"ckpt": "escape"}, 403, "outside"),
     ({"ckpt": "train-a"}, 400, "no world.json"),
     ({"ckpt": "wm/model", "video": "clips/none.mp4"}, 404, "no file"),
     ({"prompt": "a box"}, 400, "ckpt"), ([1, 2], 400, ""),
     ({"ckpt": "wm/model", "actions": [[0.0, 1.0, 2.0]]}, 400, "takes no actions"),
     ({"ckpt": "robot/model", "video": "clips/input.mp4"}, 400, "give 8 rows of 3 numbers"),
     ({"ckpt": "robot/model", "video": "clips/input.mp4", "actions": [[0.0, 1.0]] * 8}, 400, "rows of [2]"),
     ({"ckpt": "robot/model", "actions": [[0.0, 1.0, 2.0]] * 8}, 400, "pick or upload a clip"),
     ({"ckpt": "robot/model", "video": "clips/input.mp4", "actions": [["x"]]}, 400, "actions")],
)  # fmt: skip
def test_bad_generate_requests_are_refused_and_change_nothing(client, runs_root, body, status, needle):
    before = snapshot(runs_root)
    res = client.post("/api/generate", json=body, headers=POST)
    assert res.status_code == status and needle in res.json()["error"]
    assert snapshot(runs_root) == before  # no run folder, no file touched


def test_post_needs_the_studio_header_and_loopback_hosts_only(runs_root):
    app = create_app(runs_root, guard="blocklist", allowed_hosts=LOOPBACK_HOSTS)
    with TestClient(app, base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/runs").status_code == 200
        assert c.get("/api/runs", headers={"Host": "localhost:8765"}).status_code == 200
        res = c.get("/api/runs", headers={"Host": "evil.example:8765"})  # DNS rebinding
        assert res.status_code == 400 and "loopback" in res.json()["error"]
        res = c.post("/api/generate", json={"ckpt": "wm/model", "prompt": "a box"})
        assert res.status_code == 403 and CSRF_HEADER in res.json()["error"]


def test_sandboxed_html_and_nosniff(client, runs_root):
    (runs_root / "train-a" / "report.html").write_text("<script>alert(1)</script>")
    res = client.get("/files/train-a/report.html")
    assert (
        res.headers["content-security-policy"] == "sandbox"
        and res.headers["x-content-type-options"] == "nosniff"
    )
    assert client.get("/api/runs/train-a").json()["reports"][0]["label"] == "report.html"


def test_action_checkpoint_generates_from_the_given_actions(client, runs_root):
    (robot,) = [c for c in client.get("/api/checkpoints").json()["checkpoints"] if c["path"] == "robot/model"]
    assert robot["actions"] == {"dim": 3, "needed": 8}
    actions = [[0.1 * i, -0.2, 0.5] for i in range(8)]
    body = {
        "ckpt": "robot/model",
        "video": "clips/input.mp4",
        "actions": actions,
        "steps": 2,
        "sampler": "heun",
    }
    job = wait(client, client.post("/api/generate", json=body, headers=POST).json())
    assert job["status"] == "ok", job["error"]
    out = runs_root / job["run"]
    run = json.loads((out / "run.json").read_text())
    assert run["command"] == "generate action2world" and run["results"]["actions_used"] == 8
    assert np.load(out / "actions.npy").tolist() == np.asarray(actions, np.float32).tolist()
    assert io.probe(out / "video.mp4").num_frames == 9


def test_nan_in_run_files_reaches_the_page_as_text(client, runs_root):
    from worldsmith.runs import RunDir

    folder = runs_root / "nan-run"
    with RunDir(folder, command="eval geometry", args={}, seed=0) as run:
        (folder / "metrics.jsonl").write_text('{"step": 1, "loss": NaN}\n{"step": 2, "loss": 0.5}\n')
        run.record(sampson_px=float("nan"), methods={"truth": {"sampson_px": float("inf")}})
    page = client.get("/api/runs/nan-run")
    assert page.status_code == 200, page.text
    tables = {t["name"]: t["rows"] for t in page.json()["tables"]}
    assert {"key": "sampson_px", "value": "nan"} in tables["results"]
    assert tables["results.methods"] == [{"name": "truth", "sampson_px": "inf"}]
    assert page.json()["curves"][0]["series"]["loss"] == [[1, "nan"], [2, 0.5]]
    assert "nan-run" in {r["id"] for r in client.get("/api/runs").json()["runs"]}


def test_a_run_with_many_clips_probes_only_the_videos_it_plays(tmp_path):
    from worldsmith.studio import runs

    fs.write_json(tmp_path / "cur" / "run.json", {"command": "curate", "status": "ok"})
    clip = io.write(tmp_path / "cur" / "clips" / "c000.mp4", ramp(T=4), fps=FPS)
    for i in range(1, runs.MAX_GROUPS + 5):
        shutil.copy(clip, tmp_path / "cur" / "clips" / f"c{i:03d}.mp4")
    page = runs.run_detail(tmp_path, "cur")
    assert len(page["videos"]) == runs.MAX_GROUPS and page["players"] == runs.PLAYERS
    fps = [g["videos"][0]["fps"] for g in page["videos"]]
    assert fps[: runs.PLAYERS] == [FPS] * runs.PLAYERS and set(fps[runs.PLAYERS :]) == {None}
