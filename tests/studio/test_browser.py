"""The Studio in a real browser: Debian's headless chromium driven by Playwright (nothing downloaded).

Each test takes a screenshot (into $STUDIO_SCREENSHOTS when set, else the test's tmp folder).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from studio_helpers import FPS, ramp

from worldsmith.studio.server import LOOPBACK_HOSTS, create_app
from worldsmith.video import io

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("STUDIO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(runs_root):
    """The app under uvicorn on a free loopback port, in a thread of this process."""
    uvicorn = pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(runs_root, guard="blocklist", allowed_hosts=LOOPBACK_HOSTS)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.time()
    while not srv.started:
        assert time.time() - t0 < 20, "the studio server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (a dev dependency)")
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start
        args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


def shoot(page, name: str) -> Path:
    folder = Path(os.environ.get("STUDIO_SCREENSHOTS") or page.context.shots)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    return folder / f"{name}.png"


@pytest.fixture
def page(browser, server, tmp_path, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server)
    context.shots = tmp_path
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda err: errors.append(str(err)))
    yield pg
    shoot(pg, request.node.name)
    context.close()
    assert not errors, errors  # no uncaught JavaScript error on any page


def test_runs_page_lists_the_run_made_by_the_test(page):
    page.goto("/#/runs")
    row = page.locator('tr[data-run="train-a"]')
    row.wait_for()
    assert "train diffusion" in row.inner_text() and "ok" in row.inner_text()
    assert page.locator("h1").inner_text().startswith("Runs (")
    page.fill("input.filter", "no-such-run")
    assert row.is_hidden()


def test_a_video_plays_and_the_videos_stay_in_sync(page):
    page.goto("/#/run/train-a")
    player = page.locator(".group", has_text="ep0").locator(".player")
    player.wait_for()
    videos = player.locator("video")
    assert videos.count() == 3  # truth | prediction | baseline
    page.wait_for_function("() => [...document.querySelectorAll('video.sync')].every(v => v.readyState >= 2)")
    player.locator("button.play").click()
    page.wait_for_function(
        "() => document.querySelector('.group video.sync').currentTime > 0.3", timeout=TIMEOUT_MS
    )
    times = videos.evaluate_all("vs => vs.map(v => v.currentTime)")
    assert times[0] > 0.3 and max(times) - min(times) < 0.25  # one clock for all
    player.locator("button.play").click()  # pause: the follower snaps to the leader
    player.locator("button[title='next frame']").click()
    t = videos.evaluate_all("vs => vs.map(v => v.currentTime)")
    assert t[0] == pytest.approx(t[1]) and t[0] == pytest.approx(t[2])
    assert (t[0] * FPS) % 1 == pytest.approx(0.5, abs=1e-3)  # mid-frame
    assert page.locator("svg.chart[aria-label='loss']").count() == 1  # the training curve is drawn


def test_generation_from_the_page_lands_in_the_runs_list(page, tmp_path):
    page.goto("/#/generate")
    page.locator("select[name=ckpt]").wait_for()
    clip = io.write(tmp_path / "mine.mp4", ramp(T=12, shift=90), fps=FPS)
    page.set_input_files("input[name=upload]", str(clip))  # upload: checked and decoded by the server
    page.locator(".message .ok").wait_for()
    assert page.locator("select[name=video]").input_value().startswith(".studio/uploads/")
    page.fill("textarea[name=prompt]", "a box slides")
    page.fill("input[name=steps]", "3")
    page.click("button.primary")
    link = page.locator("a.result-link")
    link.wait_for()
    run_id = link.inner_text()
    assert run_id.startswith("generate-")
    assert page.locator(".result video.sync").count() == 2  # input | generated, one scrubber
    assert page.locator("progress").evaluate("p => p.value === p.max")
    shoot(page, "generate_result")
    page.goto("/#/runs")
    page.locator(f'tr[data-run="{run_id}"]').wait_for()
    assert "generate video2world" in page.locator(f'tr[data-run="{run_id}"]').inner_text()


def test_a_blocked_prompt_is_refused_on_the_page(page, runs_root):
    before = sorted(p.name for p in runs_root.iterdir())
    page.goto("/#/generate")
    page.fill("textarea[name=prompt]", "a video of a man stabbing a child with a knife")
    page.fill("input[name=steps]", "2")
    page.click("button.primary")
    page.locator(".message .error").wait_for()
    assert "blocked" in page.locator(".message .error").inner_text()
    assert sorted(p.name for p in runs_root.iterdir()) == before  # no run was started


def test_path_traversal_is_refused(page, server):
    res = page.goto("/files/..%2F..%2Fetc%2Fpasswd")
    assert res.status == 400 and "without '..'" in page.inner_text("body")
    res = page.goto("/files/escape/secret.txt")  # a symlink out of the runs root
    assert res.status == 403 and "not for the studio" not in page.content()
    page.goto("/#/run/escape")
    page.locator(".error").wait_for()
    assert "outside the runs root" in page.locator(".error").inner_text()


def test_data_page_filters_and_shows_why_clips_were_dropped(page):
    page.goto("/#/data")
    page.locator(".clip").first.wait_for()
    assert page.locator(".clips").first.locator(".clip").count() == 4
    page.select_option("select[name=kept]", "dropped")
    page.click("form.filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('.clips')[0].children.length === 2")
    assert "mean luma 4.1 < 20" in page.locator(".clip[data-clip=vid_2] .drop").inner_text()
    assert page.locator(".dup-group .clip").count() == 2  # vid_3 shown beside the clip it duplicates


def test_an_action_checkpoint_asks_for_actions_and_generates(page, runs_root):
    page.goto("/#/generate")
    page.locator("select[name=ckpt]").wait_for()
    field = page.locator("textarea[name=actions]")
    page.select_option("select[name=ckpt]", "wm/model")
    assert field.is_hidden()
    page.select_option("select[name=ckpt]", "robot/model")
    assert (
        field.is_visible() and "8 lines of 3 numbers" in page.locator("label.field", has=field).inner_text()
    )
    page.select_option("select[name=video]", "clips/input.mp4")
    page.fill("textarea[name=actions]", "\n".join(f"0.{i}, -0.2 0.5" for i in range(8)))
    page.fill("input[name=steps]", "2")
    page.click("button.primary")
    page.locator("a.result-link").wait_for()
    run = runs_root / page.locator("a.result-link").inner_text()
    assert json.loads((run / "run.json").read_text())["command"] == "generate action2world"
