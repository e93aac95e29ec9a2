"""Fixtures for the analysis tests: a seeded random SeedNet, its checkpoint, and a small folder of class images.

Nothing here downloads anything or needs the bundled model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.core.checkpoint import save_model
from explorer.core.datasets import open_dataset
from explorer.core.model import SeedNet

CLASS_FOLDERS = ("cat", "ship")
PER_CLASS = 4


@pytest.fixture(scope="session")
def model() -> SeedNet:
    torch.manual_seed(1234)
    return SeedNet().eval()


@pytest.fixture(scope="session")
def checkpoint(model: SeedNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "random-seednet.pt"
    save_model(model, path)
    return path


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cat/ and ship/ with four 32x32 PNGs each, the same pixels every run."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    for name in CLASS_FOLDERS:
        (root / name).mkdir()
        for i in range(PER_CLASS):
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def dataset(image_folder: Path):
    return open_dataset(str(image_folder))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans the command line caches go to a temporary folder, never the user's cache."""
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path / "cache"))
