"""The bundled models load from an installed wheel, outside the source tree, not only from a checkout."""

from __future__ import annotations

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
    # The fresh venv sees this interpreter's torch and Qt, but gets the explorer only from the wheel.
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=600,
    )
    run = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    import json

    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert str(env_dir) in out["file"] and str(REPO) not in out["file"]
    assert out["seednet"] == ["conv1", "conv2"]
    assert out["zfnet-cifar"] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert out["seednet.snapshots"] and out["zfnet-cifar.snapshots"]
