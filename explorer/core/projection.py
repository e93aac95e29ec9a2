"""Projecting features back to pixel space: deconvnet (Zeiler & Fergus), guided backprop, gradient.

One forward pass of the traced model records what the way down needs (the values of its nodes and
max-pool switches); every selected feature then goes down at once, as a batch of B x F signals
(`explorer.core.descent`). Where the layer is a ReLU of a convolution, the first step down touches
only the selected features' own filters, so no work is spent on the zeroed maps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.descent import Descent, bn_scale
from explorer.core.errors import OptionError
from explorer.core.graph import model_graph
from explorer.core.model import LAYERS

METHODS = ("deconvnet", "guided", "gradient")
UNPOOLS = ("switches", "fill")
KEEPS = ("map", "max")

# Cap on the elements of the widest tensor on the way down; larger requests go in feature chunks.
_CHUNK_ELEMENTS = 1 << 25


def check_layer(layer: str, model: nn.Module | None = None) -> None:
    """Raise ValueError unless `layer` is a selectable layer of `model` (SeedNet when None)."""
    if model is None:
        if layer not in LAYERS:
            raise OptionError(f"unknown layer {layer!r}: choose one of {', '.join(LAYERS)}")
        return
    model_graph(model).layer(layer)


def _feature_list(features: int | Sequence[int] | None, channels: int) -> list[int]:
    if features is None:
        return list(range(channels))
    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    bad = [f for f in feats if not 0 <= f < channels]
    if bad:
        raise OptionError(f"feature index {bad[0]} out of range 0..{channels - 1}")
    return feats


def top_signal(maps: torch.Tensor, keep: str) -> torch.Tensor:
    """The signal sent down from [N, h, w] feature maps: the whole map, or only its strongest value."""
    if keep == "map":
        return maps
    flat = maps.flatten(1)
    # argmax takes the first of equal maxima, so ties resolve to the top-left position.
    idx = flat.argmax(1, keepdim=True)
    return torch.zeros_like(flat).scatter_(1, idx, flat.gather(1, idx)).view_as(maps)


def _through_own_filter(sig: torch.Tensor, conv: nn.Conv2d, feats: list[int], x_shape: tuple[int, ...]) -> torch.Tensor:
    """Each map of `sig` [B, F, h, w] through the transposed filter of its own feature: [B * F, Cin, H, W].

    A transposed conv is a correlation with the kernel turned 180 degrees. It costs F filters, not
    F x all filters: for a stride-1 conv as one batched matrix product (k x k patches of the map
    times each feature's own filter), otherwise as a transposed conv with one group per feature.
    """
    b, nf, h, w = sig.shape
    weight = conv.weight[feats].to(sig.dtype)  # [F, Cin, kh, kw]
    cin, kh, kw = weight.shape[1:]
    (ph, pw), (sh, sw), (dh, dw) = _padding(conv), conv.stride, conv.dilation
    if (
        (sh, sw, dh, dw) == (1, 1, 1, 1)
        and ph <= kh - 1
        and pw <= kw - 1
        and kh == kw
        and ph == pw
        and x_shape[2:] == (h, w)
    ):
        cols = F.unfold(sig.reshape(b * nf, 1, h, w), kh, padding=kh - 1 - ph)  # [B*F, k*k, h*w]
        kernels = weight.flip(2, 3).reshape(nf, cin, kh * kw).repeat(b, 1, 1)  # row b * F + f: feature f's filter
        return torch.bmm(kernels, cols).view(b * nf, cin, h, w)
    out_pad = [
        x_shape[2 + i] - ((sig.shape[2 + i] - 1) * conv.stride[i] - 2 * p + conv.dilation[i] * (k - 1) + 1)
        for i, (p, k) in enumerate(((ph, kh), (pw, kw)))
    ]
    out = F.conv_transpose2d(sig, weight, None, conv.stride, (ph, pw), tuple(out_pad), nf, conv.dilation)
    return out.view(b * nf, cin, *x_shape[2:])


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    from explorer.core.descent import _same_padding

    return _same_padding(conv) if isinstance(conv.padding, str) else (int(conv.padding[0]), int(conv.padding[1]))


def _check_options(method: str, unpool: str, keep: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if unpool not in UNPOOLS:
        raise ValueError(f"unknown unpool {unpool!r}: choose one of {', '.join(UNPOOLS)}")
    if keep not in KEEPS:
        raise ValueError(f"unknown keep {keep!r}: choose one of {', '.join(KEEPS)}")
    if unpool == "fill" and method != "deconvnet":
        raise OptionError(f"unpool='fill' belongs to the deconvnet; {method} follows the switches")


class Projector:
    """One forward pass of a batch of images up to a layer, then any features down, as often as asked.

    Scrubbing through features of the same images reuses the forward pass; `project` below is
    the one-shot form. Works for every model that `explorer.core.graph` can trace.
    """

    @torch.no_grad()
    def __init__(
        self, model: nn.Module, images: torch.Tensor, layer: str, *, stop: Callable[[], None] | None = None
    ) -> None:
        """`stop` is called between the forward pass's steps and raises to stop it (a window's job)."""
        graph = model_graph(model)
        self.info = graph.layer(layer)
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
        self.model = model
        self.graph = graph
        self.layer = layer
        self.node = graph.by_name[self.info.node]
        self.out_device = images.device
        param = _first_param(model)
        x = images.to(device=param.device, dtype=param.dtype)
        was_training = model.training
        model.eval()
        try:
            self.values = graph.run(x, [self.node], stop=stop, overwrite=True)  # the way down reads no conv output
        finally:
            model.train(was_training)
        b = x.shape[0]
        widest = max(
            v[0].numel()
            for k, v in self.values.items()
            if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == b
        )
        self._step = max(1, _CHUNK_ELEMENTS // max(b * widest, 1))
        self._top_conv = self._rectified_conv()

    def _rectified_conv(self) -> tuple[fx.Node, nn.Conv2d, torch.Tensor | None] | None:
        """(conv node, conv, BatchNorm scale) when the layer is a ReLU of a plain conv, maybe through an eval BatchNorm.

        Only a ReLU gives the top signal (its own output) back unchanged on the way down; a SiLU or
        a GELU multiplies it by its derivative first.
        """
        gm = self.graph.gm
        if self.node not in self.graph.relus:
            return None
        parent = self.node.all_input_nodes[0]
        scale = None
        if parent.op == "call_module" and isinstance(gm.get_submodule(str(parent.target)), nn.BatchNorm2d):
            bn = gm.get_submodule(str(parent.target))
            assert isinstance(bn, nn.BatchNorm2d)
            scale = bn_scale(bn)
            parent = parent.all_input_nodes[0]
        if parent.op != "call_module" or len(parent.users) != 1:
            return None
        conv = gm.get_submodule(str(parent.target))
        if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or conv.padding_mode != "zeros":
            return None
        return parent, conv, scale

    @property
    def activations(self) -> torch.Tensor:
        """The layer's maps (its activation's output, channels first), [B, C, h, w], on the model's device."""
        return self.values[self.node]

    @torch.no_grad()
    def project(
        self,
        features: int | Sequence[int] | None = None,
        *,
        method: str = "deconvnet",
        unpool: str = "switches",
        keep: str = "map",
        stop: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """[B, F, 3, H, W] on the images' device; see `project` for the options. `stop` is called between the
        steps down and raises to stop (a window's job)."""
        _check_options(method, unpool, keep)
        feats = _feature_list(features, self.info.channels)
        a = self.activations
        if not feats:
            return a.new_zeros(a.shape[0], 0, *self.values[self.graph.input_node].shape[1:]).to(self.out_device)
        parts = [
            self._down(feats[i : i + self._step], keep, method, unpool, stop) for i in range(0, len(feats), self._step)
        ]
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return out.to(self.out_device)

    def _down(
        self, feats: list[int], keep: str, method: str, unpool: str, stop: Callable[[], None] | None = None
    ) -> torch.Tensor:
        if stop is not None:
            stop()
        a = self.activations
        b, nf = a.shape[0], len(feats)
        sig = top_signal(a[:, feats].flatten(0, 1), keep).view(b, nf, *a.shape[2:])
        descent = Descent(self.graph, self.values, method, unpool, stop)
        if self._top_conv is not None:
            # The top signal is a post-ReLU map, so the ReLU's way back leaves it as it is (for
            # every method); the first step down is then each feature's own transposed filter.
            node, conv, scale = self._top_conv
            if scale is not None:
                sig = sig * scale[feats].view(1, nf, 1, 1).to(sig.dtype)
            src = node.all_input_nodes[0]
            g = _through_own_filter(sig, conv, feats, tuple(self.values[src].shape))
            out = descent.run(src, g, nf)
        else:
            full = a.new_zeros(b, nf, *a.shape[1:])
            full[:, torch.arange(nf), feats] = sig
            out = descent.run(self.node, full.flatten(0, 1), nf)
        return out.view(b, nf, *out.shape[1:])


def project(
    model: nn.Module,
    images: torch.Tensor,
    layer: str,
    features: int | Sequence[int] | None = None,
    *,
    method: str = "deconvnet",
    unpool: str = "switches",
    keep: str = "map",
) -> torch.Tensor:
    """Project features of `layer` for each image to pixel space: [B, F, 3, H, W] on the images' device.

    method: "deconvnet" (Zeiler & Fergus: unpool, rectify, transposed filters, no biases), "guided"
    (guided backpropagation) or "gradient" (d/dx of 0.5 * sum(map^2)). unpool: "switches" (back to
    where each max was found) or "fill" (each value over its whole pooling window; deconvnet only,
    non-overlapping pools only). keep: "map" (the whole feature map) or "max" (only its strongest activation).
    """
    _check_options(method, unpool, keep)
    return Projector(model, images, layer).project(features, method=method, unpool=unpool, keep=keep)


@torch.no_grad()
def activations(model: nn.Module, images: torch.Tensor, layer: str) -> torch.Tensor:
    """The feature maps of `layer` (its activation's output, channels first): [B, C, h, w] on the images' device."""
    return layer_outputs(model, images, [layer])[layer].to(images.device)


@torch.no_grad()
def layer_outputs(model: nn.Module, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The maps of several layers from one forward pass, [B, C, h, w] each, on the model's device."""
    graph = model_graph(model)
    nodes = {name: graph.by_name[graph.layer(name).node] for name in layers}
    param = _first_param(model)
    was_training = model.training
    model.eval()
    try:
        values = graph.run(
            images.to(device=param.device, dtype=param.dtype), list(nodes.values()), switches=False, targets_only=True
        )
    finally:
        model.train(was_training)
    return {name: values[node] for name, node in nodes.items()}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities (softmax of the logits, dropout off): [B, classes] on the images' device."""
    param = _first_param(model)
    was_training = model.training
    model.eval()
    try:
        logits = model(images.to(device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
    return logits.softmax(1).to(images.device)


def model_device(model: nn.Module) -> torch.device:
    """Where the model's weights live (the CPU for a model without any)."""
    return _first_param(model).device


def _first_param(model: nn.Module) -> torch.Tensor:
    param = next(iter(model.parameters()), None)
    if param is None:
        return torch.zeros(())
    return param
