"""Fixtures for the core tests: a private download cache, a seeded model and its checkpoint."""

from pathlib import Path

import pytest
import torch

from explorer.core.checkpoint import save_model
from explorer.core.model import SeedNet


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """CIFAR-10 downloads and scan caches go to a temporary folder, never the user's."""
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model() -> SeedNet:
    torch.manual_seed(11)
    return SeedNet().eval()


@pytest.fixture(scope="module")
def ckpt(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "seednet.pt"
    save_model(model, path)
    return path
