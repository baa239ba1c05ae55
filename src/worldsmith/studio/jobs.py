"""Generations started from the Studio: checked, guarded, run one at a time, landing in runs/ like a CLI run.

A request is checked before anything is created: the checkpoint and the clip must be inside the
runs root, the settings in range, and the prompt must pass the pre-guard (a blocked prompt is a
400 with the guard's reason, and no run folder). The job then runs `RunDir` +
`worldsmith.diffusion.pipeline.run_generate`, the same entry point as ``worldsmith generate``, in a
fresh folder ``<runs>/generate-<time>``: the clip is copied in as ``input.mp4`` and the result is
``video.mp4``, written through the post-guard. An action-conditioned checkpoint (`worldsmith
posttrain action`) runs `posttrain.recipes.generate_action2world` instead, the entry point of
``worldsmith generate action2world``, with the request's actions saved as ``actions.npy``. The
guard set is the server's (``--guard``): a request cannot choose it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldsmith import fs
from worldsmith.config import check
from worldsmith.diffusion.pipeline import build_guard, run_generate
from worldsmith.diffusion.samplers import SAMPLERS
from worldsmith.errors import WorldsmithError
from worldsmith.runs import RunDir
from worldsmith.studio.paths import StudioPathError, relative, resolve_inside
from worldsmith.studio.runs import walk

STUDIO_GUARDS = ("default", "blocklist")  # `--guard none` exists on the CLI only, never in the Studio
MAX_ACTIONS = 10_000


@dataclass(frozen=True, kw_only=True)
class GenerateRequest:
    ckpt: str  # world-model folder under the runs root
    prompt: str = ""
    video: str = ""  # clip under the runs root ("" = Text2World)
    cond_frames: int = 1
    steps: int = 35
    sampler: str = "euler"
    guidance: float = 1.0
    seed: int = 0
    actions: tuple[tuple[float, ...], ...] = ()  # [T, A] for an action-conditioned checkpoint

    def __post_init__(self) -> None:
        check(len(self.prompt) <= 2000, "prompt", self.prompt[:40] + "...", "must be <= 2000 characters")
        check(1 <= self.steps <= 200, "steps", self.steps, "must be in 1..200")
        check(0.0 <= self.guidance <= 30.0, "guidance", self.guidance, "must be in 0..30")
        check(0 <= self.seed < 2**63, "seed", self.seed, "must be in 0..2^63-1")
        check(self.cond_frames >= 1, "cond_frames", self.cond_frames, "must be >= 1")
        check(
            len(self.actions) <= MAX_ACTIONS,
            "actions",
            f"{len(self.actions)} rows",
            f"must be <= {MAX_ACTIONS}",
        )


@dataclass
class Job:
    id: str
    run: str  # the run folder, relative to the runs root
    command: str
    status: str = "queued"  # queued | running | ok | failed
    phase: str = "queued"
    step: int = 0
    steps: int = 0
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _config(path: Path) -> dict[str, Any]:
    """A checkpoint's config: ``{"model", "format_version", "config": {...}}`` (older layouts: flat)."""
    data = _read_json(path)
    return data.get("config", data)


def action_info(folder: Path, spec: dict[str, Any]) -> dict[str, int] | None:
    """What an action-conditioned world model (`worldsmith posttrain action`) needs: values per action
    and actions per clip (one per frame after the first, `posttrain.action.actions_needed`)."""
    if _read_json(folder / "posttrain.json").get("condition") != "action":
        return None
    cfg = _config(folder / "action" / "config.json")
    frames = (spec.get("latent_size") or [1])[0]
    return {
        "dim": int(cfg.get("action_dim", 0)),
        "needed": (frames - 1) * int(cfg.get("frames_per_latent", 1)),
    }


def find_checkpoints(root: Path, *, max_depth: int = 5) -> list[dict[str, Any]]:
    """World-model folders (``world.json`` + ``dit/``) under the runs root, with what they take."""
    out = []
    for folder, _, files in walk(root, max_depth):
        if "world.json" not in files or not (folder / "dit").is_dir():
            continue
        spec = _read_json(folder / "world.json")
        out.append({
            "path": relative(root, folder),
            "latent_size": spec.get("latent_size"),
            "fps": spec.get("fps"),
            "family": spec.get("family", "edm"),
            "text_encoder": spec.get("text_encoder"),
            "video2world": bool(_config(folder / "dit" / "config.json").get("video2world")),
            "tokenizer": (folder / "tokenizer").is_dir(),
            "actions": action_info(folder, spec),
        })  # fmt: skip
    return out


class Jobs:
    """Generation jobs of one server: one runs at a time, the others wait in order."""

    def __init__(self, root: Path, *, guard: str = "default", guard_policy: str | None = None):
        if guard not in STUDIO_GUARDS:
            raise WorldsmithError(f"studio --guard must be one of {', '.join(STUDIO_GUARDS)}, got '{guard}'")
        self.root, self.guard_name, self.guard_policy = root.resolve(), guard, guard_policy
        self.jobs: dict[str, Job] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-generate")
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._guard = None

    def _pre_guard(self, prompt: str) -> None:

        with self._lock:  # the guard models load once per server
            if self._guard is None:
                self._guard = build_guard(self.guard_name, self.guard_policy)
        self._guard.require_prompt(prompt)  # GuardBlocked (a WorldsmithError): the request fails

    def _new_run(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for k in itertools.count():
            folder = self.root / (f"generate-{stamp}" + (f"-{k}" if k else ""))
            try:
                folder.mkdir(parents=True)
                return folder
            except FileExistsError:
                continue
        raise AssertionError("unreachable")

    def submit(self, req: GenerateRequest) -> Job:

        check(req.sampler in SAMPLERS, "sampler", req.sampler, f"must be one of {', '.join(SAMPLERS)}")
        ckpt = resolve_inside(self.root, req.ckpt, kind="dir")
        if not (ckpt / "world.json").is_file():
            raise StudioPathError(f"'{req.ckpt}' is not a world-model folder (no world.json)")
        video = resolve_inside(self.root, req.video, kind="file") if req.video else None
        actions = action_info(ckpt, _read_json(ckpt / "world.json"))
        check_actions(req, actions, video)
        self._pre_guard(req.prompt)
        out = self._new_run()
        command = "generate video2world" if video is not None else "generate text2world"
        command = "generate action2world" if actions is not None else command
        job = Job(id=str(next(self._ids)), run=relative(self.root, out), command=command, steps=req.steps)
        self.jobs[job.id] = job
        self._pool.submit(self._run, job, req, ckpt, video, out)
        return job

    def _run(self, job: Job, req: GenerateRequest, ckpt: Path, video: Path | None, out: Path) -> None:

        job.status, job.phase = "running", "loading the checkpoint"

        def on_step(done: int, steps: int) -> None:
            job.step, job.phase = done, "sampling" if done < steps else "decoding + post-guard"

        kw: dict[str, Any] = dict(steps=req.steps, sampler=req.sampler, guidance=req.guidance)
        kw |= dict(guard=self.guard_name, guard_policy=self.guard_policy)
        args = {"ckpt": relative(self.root, ckpt), "prompt": req.prompt, **kw, "via": "studio"}
        if video is not None:
            args |= {"video": relative(self.root, video), "cond_frames": req.cond_frames}
        try:
            with RunDir(out, command=job.command, args=args, seed=req.seed) as run:
                given = None
                if video is not None:  # the clip is part of the run: shown beside the result
                    given = shutil.copyfile(video, out / f"input{video.suffix}")
                run.record(**self._generate(job, req, ckpt, given, out, kw, on_step))
            job.status, job.phase, job.step = "ok", "done", job.steps
        except WorldsmithError as err:
            job.status, job.phase, job.error = "failed", "failed", str(err)
        except Exception as err:  # noqa: BLE001 - a bug: the job says so, the server keeps serving
            job.status, job.phase = "failed", "failed"
            job.error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        job.finished = time.time()

    def _generate(self, job, req, ckpt, given, out, kw, on_step) -> dict[str, Any]:
        """The CLI's entry point for this checkpoint: `generate action2world`, `video2world`, `text2world`."""
        if job.command == "generate action2world":
            from worldsmith.posttrain.recipes import generate_action2world

            with fs.atomic_path(out / "actions.npy") as tmp:
                np.save(tmp, np.asarray(req.actions, dtype=np.float32))  # [T, A]
            job.phase = "sampling (action models report no steps)"
            return generate_action2world(ckpt, given, out / "actions.npy", out, seed=req.seed, **kw)

        if given is not None:
            kw = {**kw, "video": given, "cond_frames": req.cond_frames}
        return run_generate(ckpt, out, prompt=req.prompt, seed=req.seed, on_step=on_step, **kw)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def check_actions(req: GenerateRequest, actions: dict[str, int] | None, video: Path | None) -> None:
    """Actions only for an action-conditioned checkpoint, and then the right number and width."""
    if actions is None:
        if req.actions:
            raise WorldsmithError(f"checkpoint '{req.ckpt}' takes no actions; leave the actions empty")
        return
    if video is None:
        raise WorldsmithError("an action checkpoint starts from a clip's first frame: pick or upload a clip")
    dim, needed = actions["dim"], actions["needed"]
    if len(req.actions) < needed or any(len(a) != dim for a in req.actions):
        widths = sorted({len(a) for a in req.actions})
        raise WorldsmithError(
            f"actions: give {needed} rows of {dim} numbers (one per frame after the first), "
            f"got {len(req.actions)} rows of {widths or [0]}"
        )
