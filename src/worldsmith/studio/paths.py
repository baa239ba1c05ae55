"""Paths from requests, resolved inside the runs root or refused.

A request names a file by a path relative to the runs root (``demo/predict/videos/a.mp4``). It is
refused when it is absolute, holds a ``..`` or empty part, a NUL or a backslash, or resolves (after
following symlinks) outside the root: a symlink inside the root that points out of it is an escape.
"""

from __future__ import annotations

from pathlib import Path

from worldsmith.errors import WorldsmithError


class StudioPathError(WorldsmithError):
    """A requested path is malformed, escapes the runs root, or does not exist."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def resolve_inside(root: Path, rel: str, *, kind: str = "any") -> Path:
    """`root / rel`, resolved, checked to stay inside `root` and to exist as `kind` ("file", "dir", "any")."""
    if not isinstance(rel, str) or "\x00" in rel or "\\" in rel:
        raise StudioPathError(f"path {rel!r} is malformed (NUL or backslash)")
    if rel and (rel.startswith("/") or any(part in ("", ".", "..") for part in rel.split("/"))):
        raise StudioPathError(f"path {rel!r} must be relative to the runs root, without '..'")
    root = root.resolve()
    path = (root / rel).resolve()
    if path != root and root not in path.parents:
        raise StudioPathError(f"path {rel!r} leads outside the runs root", status=403)
    if kind == "file" and not path.is_file():
        raise StudioPathError(f"no file '{rel}' under the runs root", status=404)
    if kind == "dir" and not path.is_dir():
        raise StudioPathError(f"no folder '{rel}' under the runs root", status=404)
    if kind == "any" and not path.exists():
        raise StudioPathError(f"nothing at '{rel}' under the runs root", status=404)
    return path


def relative(root: Path, path: Path) -> str:
    """`path` relative to the (resolved) root, with forward slashes ("" for the root itself)."""
    rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
    return "" if rel == "." else rel
