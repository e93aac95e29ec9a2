"""The seed network: two 5x5 conv layers with ReLU and 2x2 max-pooling, then two fully connected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass(frozen=True)
class LayerInfo:
    """A selectable layer: its name, feature count, feature-map size and conv geometry."""

    name: str
    channels: int
    size: int
    kernel: int
    padding: int


LAYERS: dict[str, LayerInfo] = {
    "conv1": LayerInfo("conv1", 32, 32, 5, 2),
    "conv2": LayerInfo("conv2", 64, 16, 5, 2),
}


class SeedNet(nn.Module):
    """conv 5x5 32 -> ReLU -> pool, conv 5x5 64 -> ReLU -> pool, fc 1024 -> ReLU -> dropout, fc 10.

    Input is RGB in [0, 1], 32x32, without mean/std normalisation; the output is logits.
    """

    input_size = 32
    classes = CLASSES
    # The layers a user selects are the ReLUs' outputs, named by the conv they rectify.
    layer_aliases: ClassVar[dict[str, str]] = {"relu1": "conv1", "relu2": "conv2"}

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 8 * 8, 1024)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(1024, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv stack: the input to the fully connected layers, [B, 64, 8, 8]."""
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.pool2(self.relu2(self.conv2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.fc2(self.dropout(self.relu3(self.fc1(x))))
