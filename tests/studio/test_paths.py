"""Every path a request names stays inside the runs root: `..`, absolute paths and symlink escapes refused."""

from __future__ import annotations

import os

import pytest

from worldsmith.errors import WorldsmithError
from worldsmith.studio.paths import StudioPathError, relative, resolve_inside


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "runs"
    (r / "a" / "b").mkdir(parents=True)
    (r / "a" / "b" / "f.txt").write_text("x")
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", r / "a" / "out.txt")  # leads out
    os.symlink(r / "a" / "b" / "f.txt", r / "a" / "in.txt")  # stays in
    os.symlink(tmp_path, r / "up")  # a folder link leading out
    return r


def test_paths_inside_resolve(root):
    assert resolve_inside(root, "a/b/f.txt", kind="file") == (root / "a/b/f.txt").resolve()
    assert resolve_inside(root, "a/in.txt", kind="file").name == "f.txt"  # a link that stays in is fine
    assert resolve_inside(root, "", kind="dir") == root.resolve()
    assert relative(root, root / "a" / "b") == "a/b" and relative(root, root) == ""


@pytest.mark.parametrize(
    "rel", ["../secret.txt", "a/../../secret.txt", "a/b/../../../secret.txt", "/etc/passwd", "a//b/f.txt",
            "./a/b/f.txt", "a\\..\\..\\secret.txt", "a/b/f.txt\x00.png", "a/"],
)  # fmt: skip
def test_malformed_paths_are_refused_before_touching_the_disk(root, rel):
    with pytest.raises(StudioPathError) as err:
        resolve_inside(root, rel)
    assert err.value.status == 400 and isinstance(err.value, WorldsmithError)


@pytest.mark.parametrize("rel", ["a/out.txt", "up/secret.txt", "up"])
def test_symlink_escapes_are_refused(root, rel):
    with pytest.raises(StudioPathError, match="outside the runs root") as err:
        resolve_inside(root, rel)
    assert err.value.status == 403


def test_missing_and_wrong_kind_are_404(root):
    for rel, kind in [("a/nope.txt", "any"), ("a/b", "file"), ("a/b/f.txt", "dir")]:
        with pytest.raises(StudioPathError) as err:
            resolve_inside(root, rel, kind=kind)
        assert err.value.status == 404
