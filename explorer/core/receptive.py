"""Receptive fields in input pixels, derived from the traced graph of the model itself (`explorer.core.graph`)."""

from __future__ import annotations

from torch import nn

from explorer.core.graph import Layer, model_graph


def layer_box(layer: Layer, row: int, col: int, size: int | tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) in input pixels of the output position (row, col); bottom/right exclusive.

    Clipped to the image (`size` pixels square, or (height, width)): padding reads nothing real.
    Where branches meet (a residual addition), the box covers every branch.
    """
    h, w = (size, size) if isinstance(size, int) else size
    top, bottom = row * layer.jump + layer.lo, row * layer.jump + layer.hi
    left, right = col * layer.jump + layer.lo, col * layer.jump + layer.hi
    return max(0, top), max(0, left), min(h, bottom + 1), min(w, right + 1)


def receptive_box(
    model: nn.Module, layer: str, row: int, col: int, size: int | tuple[int, int]
) -> tuple[int, int, int, int]:
    """The receptive field of `layer` at (row, col) in an image of `size`; see `layer_box`."""
    return layer_box(model_graph(model).layer(layer), row, col, size)


def field_size(model: nn.Module, layer: str) -> int:
    """The side of `layer`'s receptive field in input pixels, unclipped."""
    return model_graph(model).layer(layer).field
