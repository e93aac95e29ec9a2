"""A user's own CNN, as docs/models-and-photos.md ("Your own model") opens it: any nn.Module class that torch.fx traces."""

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv 3x3 16 -> ReLU -> pool, conv 3x3 32 -> BatchNorm -> ReLU -> pool, global average, fully connected."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))
