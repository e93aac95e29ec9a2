"""A model the window has open, with what the views need to know about it (its layers, classes, input size)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from explorer.analyses.names import model_label
from explorer.core.graph import Layer, layers
from explorer.core.model_meta import ModelInfo, model_info


def figure_label(model: nn.Module, checkpoint: str | None = None) -> str:
    """How figure titles name the model: its name from load_model, or SeedNet's checkpoint for a bare module."""
    return model_label(model) if hasattr(model, "explorer_info") else model_label(checkpoint)


@dataclass(frozen=True)
class OpenModel:
    """A model the window has open, with what the views need to know about it (computed once)."""

    model: nn.Module
    info: ModelInfo
    layers: tuple[Layer, ...]
    label: str  # as the status bar and figure titles name it

    @classmethod
    def of(cls, model: nn.Module, label: str | None = None) -> OpenModel:
        info = model_info(model)
        return cls(model, info, tuple(layers(model)), label or info.name)

    def layer(self, name: str) -> Layer:
        return next(lay for lay in self.layers if lay.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lay.name for lay in self.layers)

    @property
    def channels(self) -> dict[str, int]:
        return {lay.name: lay.channels for lay in self.layers}
