"""Receptive fields, derived from the layer stack (kernel, stride, padding) of the model itself."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from explorer.core.projection import check_layer


@dataclass(frozen=True)
class Step:
    """One spatial operation on the way up: kernel, stride and padding (square)."""

    kernel: int
    stride: int
    padding: int


def _square(v: int | tuple[int, ...] | str) -> int:
    if isinstance(v, str):
        raise ValueError(f"string padding {v!r} is not supported")
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"non-square geometry {v}")
        return int(v[0])
    return int(v)


def layer_stack(model: nn.Module, layer: str) -> list[Step]:
    """The convolutions and poolings from the input up to `layer`'s output, in order."""
    check_layer(layer)
    steps: list[Step] = []
    for name, mod in model.named_children():
        if isinstance(mod, (nn.Conv2d, nn.MaxPool2d)):
            stride = mod.stride if mod.stride is not None else mod.kernel_size
            steps.append(Step(_square(mod.kernel_size), _square(stride), _square(mod.padding)))
        if name == layer:
            return steps
    raise ValueError(f"layer {layer!r} not found in the model")


def receptive_box(steps: list[Step], row: int, col: int, size: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) in input pixels of the output position (row, col); bottom/right exclusive.

    Going down, output index i of a step reads inputs i * stride - padding ... + kernel - 1.
    The box is clipped to the `size` x `size` image (padding reads nothing real).
    """
    r0 = r1 = row
    c0 = c1 = col
    for s in reversed(steps):
        r0, r1 = r0 * s.stride - s.padding, r1 * s.stride - s.padding + s.kernel - 1
        c0, c1 = c0 * s.stride - s.padding, c1 * s.stride - s.padding + s.kernel - 1
    return max(0, r0), max(0, c0), min(size, r1 + 1), min(size, c1 + 1)
