"""Tiny models whose answers can be worked out by hand, shared by the core tests."""

import torch
from torch import nn


class RedSum(nn.Module):
    """conv1 copies the red channel, a ReLU follows (layer "relu"); the logits are (sum of red, 0)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv1.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))

    def forward(self, x):
        s = self.relu(self.conv1(x)).sum((1, 2, 3))
        return torch.stack([s, torch.zeros_like(s)], 1)
