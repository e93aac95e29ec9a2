"""The bundled models load from an installed wheel, outside the source tree, not only from a checkout."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CHECK = """
import json, sys
import explorer
from explorer.core import layers, load_model
from explorer.core.checkpoint import load_snapshots
out = {"file": explorer.__file__}
for name in ("seednet", "zfnet-cifar"):
    model = load_model(name)
    out[name] = [lay.name for lay in layers(model)]
    out[name + ".snapshots"] = sorted(load_snapshots(model=name))
print(json.dumps(out))
"""


def venv_beside_this_python(env_dir: Path, wheel: Path | None = None) -> Path:
    """A fresh venv (its python returned) that sees the packages of the Python running the tests (its torch
    and Qt) but not the checkout, with `wheel` installed in it without dependencies.

    Not system_site_packages: that gives the packages of the *base* interpreter, which has no torch when
    the tests themselves run in a venv (`pip install -e '.[test]'` in a fresh one, as the README says).
    Plain path lines in a .pth file: the site folders' own .pth files (the checkout's editable install
    among them) are not run, so the explorer can come only from the venv's own site-packages.
    """
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    if wheel is not None:  # before the .pth, so pip sees an empty venv and leaves this Python's packages alone
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
            check=True,
            timeout=600,
        )
    inner = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    ours = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        ours.append(site.getusersitepackages())
    Path(inner, "tests-running-python.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


def test_the_test_venv_sees_this_pythons_packages_and_not_the_checkout(tmp_path):
    python = venv_beside_this_python(tmp_path / "venv")
    probe = "import importlib.util as u, torch; s = u.find_spec('explorer'); print(torch.__file__, s and s.origin)"
    run = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    torch_file, explorer_file = run.stdout.split()
    import torch

    assert torch_file == torch.__file__  # this Python's torch, whatever the base interpreter holds
    assert str(REPO) not in explorer_file  # the checkout's editable install is not run there


@pytest.mark.slow
def test_wheel_ships_the_bundled_models(tmp_path):
    dist = tmp_path / "dist"
    # No build isolation: setuptools is already here, and nothing may download at test time.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)],
        check=True,
        cwd=tmp_path,
        timeout=600,
    )
    (wheel,) = dist.glob("cnn_feature_explorer-*.whl")
    env_dir = tmp_path / "venv"
    python = venv_beside_this_python(env_dir, wheel)
    run = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert str(env_dir) in out["file"] and str(REPO) not in out["file"]
    assert out["seednet"] == ["conv1", "conv2"]
    assert out["zfnet-cifar"] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert out["seednet.snapshots"] and out["zfnet-cifar.snapshots"]
