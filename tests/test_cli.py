from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from worldsmith import __version__
from worldsmith.cli import TABLE, load_command, main


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_help_lists_every_command(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    assert len(TABLE) >= 14
    for name in TABLE:
        assert re.search(rf"\b{name}\b", out), name


@pytest.mark.parametrize("name", list(TABLE))
def test_table_help_is_the_commands_own(name):
    """The table's one-line help (what --help shows without importing the stage) is the first
    sentence of the command's own help."""
    command = load_command(name)
    assert command.name == name
    assert " ".join((command.help or "").split()).startswith(TABLE[name][2].rstrip(".")), name


def test_version_and_help_import_no_stage():
    code = (
        "import sys\nfrom worldsmith.cli import main\n"
        "for argv in (['version'], ['--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
        "heavy = [m for m in ('torch', 'numpy', 'av', 'worldsmith.cli.common') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "torch 2." in proc.stdout and "version" in proc.stdout


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

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), {o for p in cmd.params for o in getattr(p, "opts", [])}

    commands = [c for name in TABLE for c in walk(load_command(name), [name])]
    assert len(commands) > 30
    missing = [name for name, opts in commands if "--out" in opts and "--seed" not in opts]
    assert not missing, missing
    unrelaxable = [name for name, opts in commands if "--guard" in opts and "--guard-policy" not in opts]
    assert not unrelaxable, unrelaxable  # every guarded command takes a site's policy (docs/guardrails.md)
