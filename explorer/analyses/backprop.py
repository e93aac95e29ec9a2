"""Backpropagation counted on fingers: one conv input element's delta, for one image, as a figure.

BackpropRequest is what the window holds and `cnn-explorer export backprop` parses; its compute
runs explain_delta on the dataset's image and true label; BackpropFigure is what both the window's
view and the exported figure (explorer.render.backprop_render) draw.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from explorer.analyses.errors import AnalysisError
from explorer.analyses.names import image_label
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.analyses.selection import check_indices
from explorer.core.delta_terms import DeltaExplanation, explain_delta
from explorer.core.images import ImageSet
from explorer.core.labels import model_label


@dataclass(frozen=True)
class BackpropRequest:
    """Which element: conv `layer`'s input at (channel, row, col) for dataset image `image`.

    out_channel None: the output channel whose terms add up to the largest magnitude.
    """

    kind: ClassVar[str] = "backprop"

    layer: str
    image: int
    channel: int
    row: int
    col: int
    out_channel: int | None = None
    clamp: bool = False  # move a position outside the layer's input inside (the view, after a layer change)

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-backprop-image{self.image}-c{self.channel}-r{self.row}-c{self.col}"

    def compute(
        self,
        model: torch.nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> BackpropFigure:
        """Count the delta of the element on the dataset image, with its true label (the prediction if none).

        progress and should_stop are ignored: one backward pass.
        """
        if len(images) == 0:
            raise AnalysisError(f"{images.name}: no images to draw")
        (index,) = check_indices([self.image], len(images), "image")
        param = next(model.parameters())
        x = images.tensor([index], param.device)
        label = model_label(model, images, index)
        if label < 0:  # no true class: the loss is taken on the model's own guess
            with torch.no_grad():
                was = model.training
                model.eval()
                label = int(model(x).argmax(1)[0])
                model.train(was)
        try:
            e = explain_delta(model, x, label, self.layer, self.channel, self.row, self.col, clamp=self.clamp)
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        out_channel = e.strongest_channel() if self.out_channel is None else self.out_channel
        if not 0 <= out_channel < e.delta_out.shape[0]:
            raise AnalysisError(f"output channel {out_channel}: {self.layer} has {e.delta_out.shape[0]}")
        names = images.classes
        name = names[label] if 0 <= label < len(names) else str(label)
        return BackpropFigure(
            self, e, out_channel, index, images.image(index), image_label(images, index), label, name, model_name
        )


@dataclass(frozen=True, eq=False)
class BackpropFigure:
    """What the view and the figure show: the counting, the image it was done on, and its words."""

    request: BackpropRequest
    explanation: DeltaExplanation
    out_channel: int
    index: int  # the image's index in its dataset
    image: np.ndarray  # uint8 [H, W, 3]
    image_label: str  # "#index class"
    label: int  # the class the loss was taken on
    label_name: str
    model_name: str

    def with_out_channel(self, out_channel: int) -> BackpropFigure:
        """The same counting shown for another output channel (clipped to the layer's channels)."""
        o = int(np.clip(out_channel, 0, self.explanation.delta_out.shape[0] - 1))
        return dataclasses.replace(self, out_channel=o)

    @property
    def title(self) -> str:
        e = self.explanation
        return (
            f"Backpropagation through {e.layer}, counted on fingers: {self.model_name}, image {self.image_label}, "
            f"input channel {e.channel} at ({e.row}, {e.col}), output channel {self.out_channel}"
        )

    @property
    def caption(self) -> str:
        e = self.explanation
        below = (
            f"Below {e.layer} the total goes through {e.below.pool}'s switch to ({e.below.row}, {e.below.col}) of the "
            f"pre-activation u of {e.below.relu}, times f'(u) = [u > 0]: delta_l = f'(u_l) * conv2(delta_l+1, "
            f"rot180(k_l+1), 'full')."
            if e.below is not None and e.below.pool is not None
            else f"Below {e.layer} the total is multiplied by f'(u) = [u > 0] of {e.below.relu}'s input u."
            if e.below is not None
            else f"{e.layer} reads the input directly: no f' below it."
        )
        return (
            f"C is the cross-entropy of the logits with class {self.label} ({self.label_name}), eval mode. "
            f"delta = dC/dz at {e.layer}'s output z. The element x[{e.channel}, {e.row}, {e.col}] fed "
            f"{len(e.terms)} outputs (over all output channels); each term is the delta there times the weight "
            f"that linked them, and arranged around the element those weights are the kernel turned 180 degrees: "
            f"dC/dx = sum delta * w = conv2(delta, rot180(k), 'full') at the element (PyTorch's conv2d is a "
            f"correlation: the forward correlates with k, the backward with rot180(k)). {below} "
            f"The weight gradient is the same sum the other way round: dC/dw[a, b] = sum over x, y of "
            f"delta[x, y] * input[x + a, y + b], the correlation of the layer's input with its delta map. "
            f"Maps: red > 0 > blue, each scaled to its own largest |value|."
        )


def finger_grid(e: DeltaExplanation, out_channel: int) -> list[list[tuple[float, float] | None]]:
    """The kh x kw grid of (delta, weight) around the element, laid out as rot180(k): cell [i][j] holds the term
    whose weight is k[kh-1-i, kw-1-j], or None where that output lies outside the map (zero padding)."""
    kh, kw = e.kernel.shape[1:]
    (sh, sw), (ph, pw), (dh, dw) = e.stride, e.padding, e.dilation
    grid: list[list[tuple[float, float] | None]] = [[None] * kw for _ in range(kh)]
    for t in e.channel_terms(out_channel):
        a = (e.row + ph - t.out_row * sh) // dh
        b = (e.col + pw - t.out_col * sw) // dw
        grid[kh - 1 - a][kw - 1 - b] = (t.delta, t.weight)
    return grid


def number(v: float) -> str:
    """A value as the tables print it: 0 as "0" (never "-0.000"), 3 decimals from 0.01 to 1000, else 3 significant
    digits (0.00123, 1.23e-05, 1.23e+04)."""
    if v == 0:
        return "0"
    return f"{v:.3f}" if 1e-2 <= abs(v) < 1e3 else f"{v:.3g}"


def precise(v: float, spec: str = ".6e") -> str:
    """A value whose digits are compared (a sum beside autograd) in `spec`; 0 as "0" (never "-0.000000e+00")."""
    return "0" if v == 0 else format(v, spec)


def check_lines(data: BackpropFigure) -> list[str]:
    """The sums and their comparison with autograd, as the view and the figure both print them."""
    e, o = data.explanation, data.out_channel
    lines = [
        f"output channel {o}: {len(e.channel_terms(o))} terms, sum delta*w = {number(e.channel_sum(o))}",
        f"all {e.delta_out.shape[0]} output channels: {len(e.terms)} terms, total dC/dx = {precise(e.total)}",
        f"autograd dC/dx = {precise(e.autograd)}   difference = {precise(e.total - e.autograd, '.1e')}",
    ]
    if e.below is not None:
        b = e.below
        via = f"{b.pool} switch -> " if b.pool else ""
        lines += [
            f"below: {via}u[{e.channel}, {b.row}, {b.col}] of {b.relu} = {number(b.pre_activation)}, f'(u) = {b.f_prime:g}",
            f"total x f' = {precise(b.delta)}   autograd dC/du = {precise(b.autograd)}   "
            f"difference = {precise(b.delta - b.autograd, '.1e')}",
        ]
    else:
        lines.append(f"{e.layer} reads the input: no f' below")
    return lines
