"""`zfnet-cifar`: five conv layers in Zeiler & Fergus's pattern, scaled to 32x32 CIFAR-10 images.

conv 5x5 48 -> BN -> ReLU -> pool, conv 5x5 96 -> BN -> ReLU -> pool, three conv 3x3 192 with BN and
ReLU, pool, fully connected. Input is RGB in [0, 1]; the per-channel normalisation is inside the model.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from explorer.core.model import CLASSES

# Per-channel mean and standard deviation of the CIFAR-10 training split.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class ZFNetCifar(nn.Module):
    """Zeiler & Fergus's five-conv-layer shape at 32x32; every conv rectified and two 2x2 pools below layer 3."""

    input_size = 32
    classes = CLASSES
    # The layers a user selects, named by their conv (the ReLU that rectifies convN is layer convN).
    layer_aliases: ClassVar[dict[str, str]] = {f"relu{i}": f"conv{i}" for i in range(1, 6)}

    mean: torch.Tensor  # buffers, set in __init__
    std: torch.Tensor

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CIFAR_STD).view(1, 3, 1, 1), persistent=False)
        widths = (3, 48, 96, 192, 192, 192)
        kernels = (5, 5, 3, 3, 3)
        for i, k in enumerate(kernels, start=1):
            self.add_module(f"conv{i}", nn.Conv2d(widths[i - 1], widths[i], k, padding=k // 2, bias=False))
            self.add_module(f"bn{i}", nn.BatchNorm2d(widths[i]))
            self.add_module(f"relu{i}", nn.ReLU())
        self.pool1 = nn.MaxPool2d(2)
        self.pool2 = nn.MaxPool2d(2)
        self.pool5 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(192 * 4 * 4, num_classes)

    def _block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        conv, bn, relu = (getattr(self, f"{part}{i}") for part in ("conv", "bn", "relu"))
        return relu(bn(conv(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        x = self.pool1(self._block(1, x))
        x = self.pool2(self._block(2, x))
        x = self._block(5, self._block(4, self._block(3, x)))
        return self.fc(self.flatten(self.pool5(x)))
