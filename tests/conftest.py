"""Shared test setup: Qt offscreen before anything imports it, and the real CIFAR-10 copy when present."""

import os
import subprocess
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two test processes on two cores: one torch thread each. With two each, the OpenMP threads of one
    # process spin waiting for a core the other holds (many times slower, as docs/speed.md notes).
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "cifar10"


def _find_real_data() -> Path | None:
    env = os.environ.get("CNN_EXPLORER_TEST_DATA")
    if env:
        return Path(env) if Path(env, "test").is_dir() else None
    if SHARED_DATA.exists():
        try:
            out = subprocess.run([str(SHARED_DATA)], capture_output=True, text=True, check=True, timeout=600)
        except (subprocess.SubprocessError, OSError):
            return None
        path = Path(out.stdout.strip())
        return path if (path / "test").is_dir() else None
    return None


@pytest.fixture(scope="session")
def cifar_dir() -> Path:
    """The folder holding train/ and test/ of the real CIFAR-10 JPEG copy; skips when absent."""
    path = _find_real_data()
    if path is None:
        pytest.skip("real CIFAR-10 copy not available (set CNN_EXPLORER_TEST_DATA)")
    return path


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    """explorer/weights/seednet.pt; its absence is a packaging bug, so the test fails rather than skips."""
    path = REPO / "explorer" / "weights" / "seednet.pt"
    assert path.is_file(), f"{path} is missing: the package ships without its model"
    return path


@pytest.fixture(autouse=True)
def private_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Scans and decoded pixels go to a fresh folder per test: never the user's cache, never another test's."""
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path_factory.mktemp("cache")))
