""".ci/run installs into a fresh, plain venv outside the checkout and runs every step with that venv's tools,
as a newcomer following the README would: a test that passes only beside this machine's own packages fails
in CI too. Run here with stand-in tools that only write down how they were called.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LOGGER = """#!/usr/bin/env bash
echo "$0|$PWD|${VIRTUAL_ENV:-}|$*" >> "$CI_LOG"
"""
# `python3 -m venv DIR`: makes DIR/bin with stand-ins of the venv's python and tools.
MAKE_VENV = (
    LOGGER
    + """if [ "${1:-}" = "-m" ] && [ "${2:-}" = "venv" ]; then
  dir="${@: -1}"
  mkdir -p "$dir/bin"
  for tool in python python3 pip ruff mypy lint-imports pytest; do
    cp "$STAND_IN" "$dir/bin/$tool"
    chmod +x "$dir/bin/$tool"
  done
fi
"""
)
STEPS = [  # (tool, its arguments), in order
    ("python", "-m pip install -q -e .[test,dev]"),
    ("ruff", "check ."),
    ("ruff", "format --check ."),
    ("mypy", ""),
    ("lint-imports", ""),
    ("python", "-m pytest"),
    ("python", "-m pytest -q -n 0 -m giant tests/core/test_zoo.py"),
    ("python", "../shared/checks/qt_thread_signals.py 5000"),
]


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def ci_run(tmp_path):
    """Run a copy of .ci/run in a bare checkout with stand-ins for python3 and every tool on PATH; return
    (the checkout, the temporary folder, the calls as (program, cwd, VIRTUAL_ENV, arguments))."""
    repo = tmp_path / "work" / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy2(REPO / ".ci" / "run", repo / ".ci" / "run")
    (tmp_path / "work" / "shared" / "checks").mkdir(parents=True)
    (tmp_path / "work" / "shared" / "checks" / "qt_thread_signals.py").write_text("")
    outside = tmp_path / "outside-bin"  # what PATH offers before any venv: none of it may run a step
    outside.mkdir()
    _script(tmp_path / "stand-in", LOGGER)
    for tool in ("python3", "python"):
        _script(outside / tool, MAKE_VENV)
    for tool in ("pip", "pip3", "ruff", "mypy", "lint-imports", "pytest"):
        _script(outside / tool, LOGGER)
    temp = tmp_path / "temp"
    temp.mkdir()
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{outside}:/usr/bin:/bin",
        "TMPDIR": str(temp),
        "CI_LOG": str(log),
        "STAND_IN": str(tmp_path / "stand-in"),
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", str(repo / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    calls = [tuple(line.split("|", 3)) for line in log.read_text().splitlines()]
    return repo, temp, calls


def test_ci_makes_a_plain_venv_outside_the_checkout_and_removes_it(ci_run):
    repo, temp, calls = ci_run
    program, _cwd, _env, args = calls[0]
    assert Path(program).parent.name == "outside-bin" and args.startswith("-m venv ")
    assert "--system-site-packages" not in args  # a newcomer's venv: nothing from this machine's Python
    venv_dir = Path(args.split()[-1])
    assert temp in venv_dir.parents and repo not in venv_dir.parents
    assert not venv_dir.exists() and not os.listdir(temp)  # removed on exit


def test_ci_runs_every_step_with_the_venvs_tools(ci_run):
    repo, _temp, calls = ci_run
    venv_bin = Path(calls[0][3].split()[-1]) / "bin"
    steps = calls[1:]
    assert [(Path(program).name, args) for program, _cwd, _env, args in steps] == STEPS
    for program, cwd, virtual_env, _args in steps:
        assert Path(program).parent == venv_bin, program  # never a tool PATH offered before the venv
        assert Path(cwd) == repo and Path(virtual_env) == venv_bin.parent
