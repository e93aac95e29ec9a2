"""The bundled architectures, by name."""

from __future__ import annotations

from torch import nn

BUNDLED_ARCHITECTURES = ("seednet", "zfnet-cifar")


def build_bundled(name: str, num_classes: int = 10) -> nn.Module:
    """A freshly initialised bundled architecture: `seednet` or `zfnet-cifar`."""
    if name == "seednet":
        from explorer.core.model import SeedNet

        return SeedNet(num_classes)
    if name == "zfnet-cifar":
        from explorer.core.zfnet import ZFNetCifar

        return ZFNetCifar(num_classes)
    raise ValueError(f"{name}: not a bundled model (choose from {', '.join(BUNDLED_ARCHITECTURES)})")
