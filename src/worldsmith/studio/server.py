"""The Studio's HTTP server: a FastAPI app serving JSON views, files (range requests) and the front end.

    app = create_app(Path("runs"))          # then any ASGI server; `serve` runs uvicorn
    serve(Path("runs"), host="127.0.0.1", port=8765)

Routes (every path in a request is relative to the runs root and resolved inside it):
    GET  /                       the single-page front end (static/, no build step)
    GET  /api/runs               every run: command, status, wall time, seed
    GET  /api/runs/{run}         one run: args, tables, training curves, video groups, images
    GET  /files/{path}           a file under the runs root, with HTTP range requests (video seeking)
    GET  /api/manifests          curated manifests;  GET /api/data?manifest=DIR&...  its clips
    GET  /api/checkpoints        world models;       GET /api/videos  clips to start from
    POST /api/uploads?name=F     an uploaded clip (raw body), checked and decoded like the CLI does
    POST /api/generate           a generation job (JSON GenerateRequest);  GET /api/jobs[/{id}]

Writes only ever create: a generation's new run folder, an upload under ``.studio/uploads``.
A POST must carry the ``X-Worldsmith-Studio`` header, which a page of another origin cannot send
without a CORS preflight this server never grants; when bound to loopback, a request whose Host is
not a loopback name is refused (DNS rebinding).
"""

from __future__ import annotations

import json
import math
import mimetypes
from importlib import resources
from pathlib import Path

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException

from worldsmith.config import from_dict
from worldsmith.console import console
from worldsmith.diffusion.samplers import SAMPLERS
from worldsmith.errors import WorldsmithError
from worldsmith.studio import data, runs
from worldsmith.studio.jobs import GenerateRequest, Jobs, find_checkpoints
from worldsmith.studio.paths import StudioPathError, relative, resolve_inside
from worldsmith.studio.uploads import UploadLimits, save_upload

CSRF_HEADER = "x-worldsmith-studio"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
SANDBOXED = {".html", ".htm", ".svg"}  # run files that could hold scripts: served as a sandboxed origin
MAX_VIDEOS = 500


def _finite(obj):
    """NaN and infinities as the strings "nan", "inf", "-inf": run files hold them (a metric that was
    not measured), strict JSON has no spelling for them, and the page shows the string."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


class StudioJSON(JSONResponse):
    def render(self, content) -> bytes:
        return json.dumps(_finite(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _host(header: str) -> str:
    """The host part of a Host header (``[::1]:8765`` -> ``[::1]``, ``localhost:80`` -> ``localhost``)."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class RequestGuard:
    """Refuses requests before any route runs (a foreign Host on loopback, a POST without the Studio's
    header) and adds `nosniff` and `no-referrer` to every response. Plain ASGI: Starlette's
    `BaseHTTPMiddleware` costs a task group per request, which the page's 8 first requests felt."""

    def __init__(self, app, allowed_hosts: tuple[str, ...] | None):
        self.app, self.allowed_hosts = app, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        if self.allowed_hosts is not None and _host(headers.get("host", "")) not in self.allowed_hosts:
            refusal = _error(400, "this server answers loopback names only (start it with --host to change)")
            return await refusal(scope, receive, send)
        if scope["method"] not in ("GET", "HEAD") and CSRF_HEADER not in headers:
            message = f"a {scope['method']} needs the {CSRF_HEADER} header (the Studio page sends it)"
            return await _error(403, message)(scope, receive, send)

        async def send_safe(message):
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.setdefault("x-content-type-options", "nosniff")
                out.setdefault("referrer-policy", "no-referrer")
            await send(message)

        await self.app(scope, receive, send_safe)


def create_app(
    root: str | Path,
    *,
    guard: str = "default",
    guard_policy: str | None = None,
    limits: UploadLimits | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> FastAPI:
    """The Studio app over the runs folder `root`; `allowed_hosts` (None: any) guards the Host header."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise WorldsmithError(f"runs folder '{root}' does not exist; pass --runs DIR (e.g. runs/)")
    limits = limits or UploadLimits()
    jobs = Jobs(root, guard=guard, guard_policy=guard_policy)
    app = FastAPI(
        title="worldsmith studio",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=StudioJSON,
    )
    app.state.root, app.state.jobs = root, jobs
    app.router.add_event_handler("shutdown", jobs.shutdown)
    static = resources.files("worldsmith.studio") / "static"
    # The page's CSS goes inline: the first paint waits for one response, not two in a row.
    css = (static / "style.css").read_text()
    shell = (static / "index.html").read_text()
    shell = shell.replace('<link rel="stylesheet" href="/static/style.css">', f"<style>{css}</style>")

    app.add_middleware(RequestGuard, allowed_hosts=allowed_hosts)

    @app.exception_handler(WorldsmithError)
    async def worldsmith_error(request: Request, err: WorldsmithError):
        return _error(getattr(err, "status", 400), str(err))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(400, f"bad request: {where}: {first.get('msg', 'invalid')}")

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse(shell)

    # The front end's few small files, from memory: no disk or thread pool per request.
    assets = {f.name: f.read_bytes() for f in static.iterdir() if f.name.endswith((".js", ".css"))}

    @app.get("/static/{name}")
    async def static_file(name: str):
        if name not in assets:
            raise StudioPathError(f"no static file '{name}'", status=404)
        return Response(assets[name], media_type=mimetypes.guess_type(name)[0] or "text/plain")

    @app.get("/api/runs")
    def api_runs():
        return {"root": str(root), "runs": runs.list_runs(root)}

    @app.get("/api/runs/{run_id:path}")
    def api_run(run_id: str):
        return runs.run_detail(root, run_id)

    @app.get("/files/{rel:path}")
    def files(rel: str):
        path = resolve_inside(root, rel, kind="file")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"content-security-policy": "sandbox"} if path.suffix.lower() in SANDBOXED else {}
        return FileResponse(path, media_type=media, headers=headers)

    @app.get("/api/manifests")
    def api_manifests():
        return {"manifests": data.find_manifests(root)}

    @app.get("/api/data")
    def api_data(request: Request):
        params = dict(request.query_params)
        manifest = params.pop("manifest", None)
        if manifest is None:
            raise WorldsmithError("give ?manifest=DIR (a folder from /api/manifests)")
        return data.query_clips(root, manifest, params)

    @app.get("/api/checkpoints")
    def api_checkpoints():

        return {"checkpoints": find_checkpoints(root), "samplers": list(SAMPLERS)}

    @app.get("/api/videos")
    def api_videos():
        found = []
        for folder, _, names in runs.walk(root, 5):
            found += [relative(root, folder / n) for n in names if Path(n).suffix.lower() in runs.VIDEO_EXT]
            if len(found) >= MAX_VIDEOS:
                break
        uploads = root / ".studio" / "uploads"
        if uploads.is_dir():
            found += [relative(root, p) for p in sorted(uploads.iterdir()) if not p.name.startswith(".")]
        return {"videos": found[:MAX_VIDEOS]}

    @app.post("/api/uploads")
    async def api_upload(request: Request, name: str):
        length = request.headers.get("content-length")
        rel = await save_upload(
            root, name, request.stream(), limits, length=int(length) if length and length.isdigit() else None
        )
        return {"video": rel, "url": "/files/" + rel}

    @app.post("/api/generate")
    def api_generate(body: dict = Body(...)):  # sync: the pre-guard may load its models (thread pool)
        return jobs.submit(from_dict(GenerateRequest, body)).to_dict()

    @app.get("/api/jobs")
    def api_jobs():
        return {"jobs": [j.to_dict() for j in reversed(list(jobs.jobs.values()))]}

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: str):
        if job_id not in jobs.jobs:
            raise StudioPathError(f"no job '{job_id}'", status=404)
        return jobs.jobs[job_id].to_dict()

    return app


def serve(
    root: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    guard: str = "default",
    guard_policy: str | None = None,
) -> None:
    """Run the Studio with uvicorn until Ctrl-C; loud when reachable from other machines."""
    import uvicorn

    loopback = host in LOOPBACK_HOSTS
    app = create_app(
        root, guard=guard, guard_policy=guard_policy, allowed_hosts=LOOPBACK_HOSTS if loopback else None
    )
    if not loopback:
        console.print(
            f"[bold red]WARNING: the studio listens on {host}: anyone who can reach this machine on port "
            f"{port} can watch every run under {Path(root).resolve()} and start generations. It has no "
            "login. Use the default 127.0.0.1 (and an SSH tunnel) unless this network is yours alone.[/]"
        )
    shown = f"[{host}]" if ":" in host else host
    console.print(f"worldsmith studio on http://{shown}:{port}/ (runs: {Path(root).resolve()}); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")
