"""The worker's memory of recent forward passes, so scrubbing features does no forward pass at all.

A Projector holds one forward pass of some images up to a layer; any feature then goes down from
it. Entries are keyed by the image set itself (by identity: two sets with the same name never
share an entry), the image indices and the layer, and the least recently used one is dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from explorer.core.images import ImageSet
from explorer.core.projection import Projector, predict

T = TypeVar("T")
PROJECTORS = 6  # e.g. one image and one page, for each of both layers, and some slack
PROBS = 64


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]  # type: ignore[return-value]
        value = make()
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


class ForwardCache:
    """Projectors by (images, indices, layer) and class probabilities by (images, index), least recent dropped."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model = model
        self.device = device
        self._projectors = _LRU(PROJECTORS)
        self._probs = _LRU(PROBS)

    def projector(
        self, images: ImageSet, indices: tuple[int, ...], layer: str, *, stop: Callable[[], None] | None = None
    ) -> Projector:
        """The forward pass of `indices` up to `layer`, kept; `stop` may stop making it (nothing is kept then)."""
        return self._projectors.get(
            (images, indices, layer),
            lambda: Projector(self.model, images.tensor(list(indices), self.device), layer, stop=stop),
        )

    def probs(self, images: ImageSet, index: int) -> np.ndarray:
        """float32 [classes] for images[index]."""
        return self._probs.get(
            (images, index), lambda: predict(self.model, images.tensor([index], self.device))[0].cpu().numpy()
        )

    def clear(self) -> None:
        self._projectors.entries.clear()
        self._probs.entries.clear()

    def __len__(self) -> int:
        return len(self._projectors.entries) + len(self._probs.entries)
