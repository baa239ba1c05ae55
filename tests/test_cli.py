from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from worldsmith import __version__
from worldsmith.cli import app, main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_help_lists_every_command(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    for name in names:
        assert re.search(rf"\b{name}\b", out), name


def test_version(capsys):
    code, out, _ = run_cli(["version"], capsys)
    assert code == 0
    assert f"worldsmith {__version__}" in out and "torch " in out and "av " in out


def test_probe_json(bikes, capsys):
    code, out, _ = run_cli(["probe", str(bikes), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["num_frames"] == 250 and info["width"] == 640


def test_user_error_one_line_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["probe", str(tmp_path / "missing.mp4")], capsys)
    assert code == 2
    assert "missing.mp4" in err and "Traceback" not in err


def test_debug_shows_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "worldsmith.cli", "--debug", "probe", str(tmp_path / "missing.mp4")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_unknown_command_fails(capsys):
    code, _, _ = run_cli(["frobnicate"], capsys)
    assert code == 2


def test_debug_after_subcommand_shows_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "worldsmith.cli", "probe", str(tmp_path / "missing.mp4"), "--debug"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_every_writing_command_takes_seed():
    """Each command with --out also takes --seed (the README promises it)."""
    import typer.main

    from worldsmith.cli import app

    group = typer.main.get_command(app)

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), {o for p in cmd.params for o in getattr(p, "opts", [])}

    missing = [name for name, opts in walk(group, []) if "--out" in opts and "--seed" not in opts]
    assert not missing, missing
