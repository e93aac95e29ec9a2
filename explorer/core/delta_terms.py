"""One input element's delta through one conv layer, counted on fingers as the seed does.

`explain_delta` runs the model once (eval mode, cross-entropy on the true label), captures the
conv's input and the gradient at its output with hooks, and then sums by hand: every output the
element fed, its delta times the weight that linked them. The sum is dC/d(input element); the
weights it meets are the kernel turned 180 degrees. It then carries the total one step down,
through the max-pool switch and the ReLU's f', to the pre-activation below. Autograd's values
for the same elements come along, so the counting can be checked against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class DeltaTerm(NamedTuple):
    """One term of the sum: the output the element fed, its delta dC/dz, and the linking weight."""

    out_channel: int
    out_row: int
    out_col: int
    delta: float
    weight: float


@dataclass(frozen=True)
class StepBelow:
    """The total carried to the pre-activation u below: through the max-pool switch, times f'(u)."""

    relu: str  # the ReLU module whose input is u
    pool: str | None  # the max-pool between the ReLU and the conv (None: the conv reads the ReLU's output)
    row: int  # where in u the total lands: the switch (the max's position), or (row, col) with no pool
    col: int
    pre_activation: float  # u there
    f_prime: float  # the ReLU's derivative there: 1 if u > 0, else 0
    delta: float  # total x f_prime: dC/du there, counted on fingers
    autograd: float  # dC/du there, by autograd


@dataclass(frozen=True, eq=False)
class DeltaExplanation:
    """Everything the counting used and found, as plain values and numpy arrays."""

    layer: str
    channel: int
    row: int
    col: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    terms: tuple[DeltaTerm, ...]
    total: float  # sum of delta x weight over the terms: dC/d(input[channel, row, col])
    autograd: float  # the same derivative by autograd
    loss: float
    input_channels: int  # of the conv's input
    input_map: np.ndarray  # [H, W] the channel of the conv's input
    delta_out: np.ndarray  # [C_out, H', W'] dC/d(conv output)
    kernel: np.ndarray  # [C_out, kh, kw] the weights from this input channel (zero outside its group)
    input_delta: np.ndarray  # [H, W] dC/d(input channel): full convolution of delta_out with rot180(kernel)
    autograd_input_delta: np.ndarray  # [H, W] the same map by autograd
    below: StepBelow | None  # None when the conv reads something other than ReLU (-> max-pool) output

    def channel_terms(self, out_channel: int) -> tuple[DeltaTerm, ...]:
        return tuple(t for t in self.terms if t.out_channel == out_channel)

    def channel_sum(self, out_channel: int) -> float:
        return math.fsum(t.delta * t.weight for t in self.channel_terms(out_channel))

    def strongest_channel(self) -> int:
        """The output channel whose terms add up to the largest magnitude (the first on ties)."""
        sums = [abs(self.channel_sum(o)) for o in range(self.delta_out.shape[0])]
        return int(np.argmax(sums))


def _module_names(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module, named as the window names layers: without a normalising wrapper's `inner.`
    (loading.Normalized's node_prefix)."""
    prefix = getattr(model, "node_prefix", "")
    return [(name.removeprefix(prefix), m) for name, m in model.named_modules()]


def conv_layers(model: nn.Module) -> tuple[str, ...]:
    """The names of the model's nn.Conv2d modules, in registration order (without a wrapper's `inner.`)."""
    return tuple(name for name, m in _module_names(model) if isinstance(m, nn.Conv2d))


def _conv(model: nn.Module, layer: str) -> nn.Conv2d:
    prefix = getattr(model, "node_prefix", "")
    try:
        # As conv_layers names it; the wrapped name (inner.conv1) is taken too.
        module = model.get_submodule(layer if layer.startswith(prefix) else prefix + layer)
    except AttributeError:
        raise ValueError(f"layer {layer!r}: no such module (conv layers: {', '.join(conv_layers(model))})") from None
    if not isinstance(module, nn.Conv2d):
        raise ValueError(f"layer {layer!r}: is {type(module).__name__}, not a Conv2d")
    return module


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def full_convolution(delta: torch.Tensor, conv: nn.Conv2d, input_size: tuple[int, int]) -> torch.Tensor:
    """dC/d(input) [B, in, H, W] from dC/d(output) `delta` [B, out, H', W']: the seed's conv2(delta, rot180(k), 'full').

    Strides put zeros between the deltas; the deltas are padded by d(k - 1) - p on each side (a
    'full' convolution cropped by the forward padding), and correlated with the rotated kernel
    whose in- and out-channels swap places, group by group.
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(conv.stride), _pair(conv.padding), _pair(conv.dilation)  # type: ignore[arg-type]
    kh, kw = conv.kernel_size
    b, c_out, ho, wo = delta.shape
    spread = delta.new_zeros(b, c_out, (ho - 1) * sh + 1, (wo - 1) * sw + 1)
    spread[:, :, ::sh, ::sw] = delta
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    # Rows the forward never read (a stride that did not fit) get zero delta: pad to the input size.
    bottom = input_size[0] + dh * (kh - 1) - top - spread.shape[2]
    right = input_size[1] + dw * (kw - 1) - left - spread.shape[3]
    padded = F.pad(spread, (left, right, top, bottom))  # negative pads crop
    g = conv.groups
    w = torch.flip(conv.weight, dims=(2, 3))  # rot180
    w = w.view(g, c_out // g, *w.shape[1:]).transpose(1, 2).reshape(-1, c_out // g, kh, kw)
    return F.conv2d(padded, w, dilation=(dh, dw), groups=g)


def _terms(conv: nn.Conv2d, delta_out: torch.Tensor, channel: int, row: int, col: int) -> tuple[DeltaTerm, ...]:
    """Every (output, weight) pair that input[channel, row, col] entered, by the forward's indexing.

    The forward read input[o_r * s - p + a * d] with weight w[a]; so the element at `row` fed
    output row o_r through w[a] wherever row = o_r * s - p + a * d.
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(conv.stride), _pair(conv.padding), _pair(conv.dilation)  # type: ignore[arg-type]
    kh, kw = conv.kernel_size
    c_out, ho, wo = delta_out.shape
    per_group = conv.in_channels // conv.groups
    group, c_in = divmod(channel, per_group)
    outs = range(group * (c_out // conv.groups), (group + 1) * (c_out // conv.groups))
    weight = conv.weight.detach().double().cpu()
    deltas = delta_out.double().cpu()

    def hits(pos: int, pad: int, dil: int, stride: int, k: int, size: int) -> list[tuple[int, int]]:
        found = []
        for a in range(k):
            num = pos + pad - a * dil
            if num % stride == 0 and 0 <= num // stride < size:
                found.append((num // stride, a))
        return sorted(found)

    rows, cols = hits(row, ph, dh, sh, kh, ho), hits(col, pw, dw, sw, kw, wo)
    return tuple(
        DeltaTerm(o, r, c, float(deltas[o, r, c]), float(weight[o, c_in, a, b]))
        for o in outs
        for r, a in rows
        for c, b in cols
    )


class _Recorder:
    """Forward hooks on the conv and on every nn.ReLU and nn.MaxPool2d: what each read and wrote, in order."""

    def __init__(self, model: nn.Module, conv: nn.Conv2d) -> None:
        self.conv_io: tuple[torch.Tensor, torch.Tensor] | None = None
        self.relus: list[tuple[str, torch.Tensor, torch.Tensor]] = []  # (name, u, output)
        self.pools: list[tuple[str, nn.MaxPool2d, torch.Tensor, torch.Tensor]] = []
        self.handles: list[torch.utils.hooks.RemovableHandle] = []
        self._relu_inputs: dict[int, torch.Tensor] = {}
        self.handles.append(conv.register_forward_hook(self._on_conv))
        for name, m in _module_names(model):
            if isinstance(m, nn.ReLU):
                self.handles.append(m.register_forward_pre_hook(self._on_relu_input))
                self.handles.append(m.register_forward_hook(self._relu_hook(name)))
            elif isinstance(m, nn.MaxPool2d):
                self.handles.append(m.register_forward_hook(self._pool_hook(name)))

    def _on_conv(self, _m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if self.conv_io is None:  # a conv used twice is explained at its first use
            self.conv_io = (inputs[0], output)

    def _on_relu_input(self, m: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        self._relu_inputs[id(m)] = inputs[0]
        # An in-place ReLU would overwrite u; it rectifies a copy instead, so u stays in the graph.
        return (inputs[0].clone(),) if getattr(m, "inplace", False) else None

    def _relu_hook(self, name: str):
        def hook(m: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            self.relus.append((name, self._relu_inputs.pop(id(m)), output))

        return hook

    def _pool_hook(self, name: str):
        def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            self.pools.append((name, m, inputs[0], output))  # type: ignore[arg-type]

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def chain_below(
        self, x_in: torch.Tensor
    ) -> tuple[str, torch.Tensor, tuple[str, nn.MaxPool2d, torch.Tensor] | None] | None:
        """(relu name, u, pool) when the conv read ReLU(u), possibly through one max-pool; else None."""
        pool = next(((n, m, i) for n, m, i, o in self.pools if o is x_in), None)
        rectified = pool[2] if pool is not None else x_in
        relu = next(((n, u) for n, u, o in self.relus if o is rectified), None)
        if relu is None:
            return None
        return relu[0], relu[1], pool


def explain_delta(
    model: nn.Module,
    image: torch.Tensor,
    label: int,
    layer: str,
    channel: int,
    row: int,
    col: int,
    *,
    clamp: bool = False,
) -> DeltaExplanation:
    """dC/d(input[channel, row, col]) of conv `layer`, as the seed's sum of delta x weight, beside autograd.

    `image` is one picture [3, H, W] or [1, 3, H, W] as the model reads it; C is the cross-entropy
    with `label`, in eval mode (the model's mode is restored). No hook outlives the call. A position
    outside the layer's input is a ValueError, or with `clamp` moved to the nearest one inside.
    """
    conv = _conv(model, layer)
    layer = layer.removeprefix(getattr(model, "node_prefix", ""))  # named as conv_layers names it
    param = next(model.parameters())
    x = image.detach().to(param.device, param.dtype)
    x = (x if x.dim() == 4 else x.unsqueeze(0)).requires_grad_(True)
    if x.shape[0] != 1:
        raise ValueError(f"explain_delta takes one image, got a batch of {x.shape[0]}")
    was_training = model.training
    recorder = _Recorder(model, conv)
    try:
        model.eval()
        with torch.enable_grad():
            logits = model(x)
            loss = F.cross_entropy(logits, torch.tensor([int(label)], device=logits.device))
            if recorder.conv_io is None:
                raise ValueError(f"layer {layer!r}: the model's forward never ran it")
            x_in, z = recorder.conv_io
            chain = recorder.chain_below(x_in)
            wanted = [x_in, z] + ([chain[1]] if chain is not None else [])
            grads = torch.autograd.grad(loss, wanted, allow_unused=True)
    finally:
        recorder.remove()
        model.train(was_training)
    _, c_in, h, w = x_in.shape
    if clamp:
        channel, row, col = min(max(channel, 0), c_in - 1), min(max(row, 0), h - 1), min(max(col, 0), w - 1)
    if not (0 <= channel < c_in and 0 <= row < h and 0 <= col < w):
        raise ValueError(f"position ({channel}, {row}, {col}) is outside {layer}'s input [{c_in}, {h}, {w}]")
    g_in, g_out = (g if g is not None else torch.zeros_like(t) for g, t in zip(grads[:2], wanted[:2], strict=True))
    delta_out = g_out[0].detach()
    terms = _terms(conv, delta_out, channel, row, col)
    total = math.fsum(t.delta * t.weight for t in terms)
    with torch.no_grad():
        full = full_convolution(delta_out.unsqueeze(0), conv, (h, w))[0, channel]
    below = None
    if chain is not None:
        below = _step_below(chain, grads[2], channel, row, col, total)
    outs = conv.out_channels // conv.groups
    first = channel // (c_in // conv.groups) * outs
    kernel = np.zeros((conv.out_channels, *conv.kernel_size))
    kernel[first : first + outs] = (
        conv.weight.detach().double().cpu().numpy()[first : first + outs, channel % (c_in // conv.groups)]
    )
    kernel.setflags(write=False)
    return DeltaExplanation(
        layer=layer, channel=channel, row=row, col=col,
        stride=_pair(conv.stride), padding=_pair(conv.padding), dilation=_pair(conv.dilation),  # type: ignore[arg-type]
        terms=terms, total=total, autograd=float(g_in[0, channel, row, col]), loss=float(loss.detach()),
        input_channels=c_in, input_map=_np(x_in[0, channel]), delta_out=_np(delta_out), kernel=kernel,
        input_delta=_np(full), autograd_input_delta=_np(g_in[0, channel]), below=below,
    )  # fmt: skip


def _step_below(chain, grad_u: torch.Tensor | None, channel: int, row: int, col: int, total: float) -> StepBelow:
    relu, u, pool = chain
    r, c = row, col
    if pool is not None:
        _, m, rectified = pool
        _, switches = F.max_pool2d(
            rectified.detach(), m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, return_indices=True
        )
        r, c = divmod(int(switches[0, channel, row, col]), rectified.shape[-1])
    value = float(u[0, channel, r, c].detach())
    f_prime = 1.0 if value > 0 else 0.0
    auto = float(grad_u[0, channel, r, c]) if grad_u is not None else 0.0
    return StepBelow(relu, pool[0] if pool else None, r, c, value, f_prime, total * f_prime, auto)


def _np(t: torch.Tensor) -> np.ndarray:
    arr = t.detach().cpu().numpy().copy()
    arr.setflags(write=False)
    return arr
