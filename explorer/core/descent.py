"""The way down a traced model: a feature's signal from a layer back to the input, one rule per operation.

The rules, for the three methods:

- Rectifiers (ReLU, ReLU6, LeakyReLU, PReLU): deconvnet rectifies the signal, relu(g), whatever the
  forward pass did (Zeiler & Fergus); guided backprop rectifies it and multiplies it by the
  activation's local derivative at the recorded input, relu(g) * f'(z) (Springenberg et al.: for
  ReLU the mask z > 0, for ReLU6 0 < z < 6, for LeakyReLU the slope where z < 0); the gradient is
  g * f'(z).
- Max-pools send each value back to the position its maximum came from (the switches), or for
  the deconvnet with unpool="fill" over its whole window (non-overlapping pools only).
- Every other operation passes the signal by its gradient at the recorded forward values, for
  every method, as Captum's NeuronDeconvolution and NeuronGuidedBackprop do (they override only
  ReLU's backward): convolutions through their transposed filters, BatchNorm (eval) as its scale,
  sums into every branch, concatenations split, reshapes, permutes, pads, average pools and
  Linear layers by their exact vector-Jacobian products, and the non-linear rest (SiLU, GELU,
  Hardswish, sigmoid gates, the product of two signals in squeeze-excitation, LayerNorm) by the
  product with its Jacobian at the recorded values. A model without rectifiers (EfficientNet's
  SiLU) thus gets the same picture from all three methods.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.errors import ModelError, OptionError
from explorer.core.graph import ModelGraph

# Modules that are linear maps of their input in eval mode (the way down is their VJP, computed on zeros).
LINEAR_MODULES = (
    nn.Conv2d,
    nn.Linear,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.BatchNorm2d,
)
IDENTITY_MODULES = (nn.Dropout, nn.Dropout2d, nn.Identity)
IDENTITY_METHODS = ("contiguous", "clone")
ADDITIONS = (operator.add, torch.add, operator.sub, torch.sub)
PRODUCTS = (operator.mul, torch.mul, operator.truediv, torch.div)
CONCATENATIONS = (torch.cat, torch.concat)

# What each node's way down is (`_rules`).
_RELU, _RECTIFIER, _MAXPOOL, _CONV, _BN, _IDENTITY, _LINEAR, _ADD, _PRODUCT, _CAT, _PART, _VJP = range(12)


def rectify(g: torch.Tensor, z: torch.Tensor, method: str, nf: int) -> torch.Tensor:
    """The way back through a ReLU whose forward input (or output) was `z` [B, ...]; `g` is [B * nf, ...]."""
    if method == "deconvnet":
        return F.relu(g)
    b = z.shape[0]
    mask = (z > 0).unsqueeze(1)
    out = (F.relu(g) if method == "guided" else g).view(b, nf, *g.shape[1:]) * mask
    return out.view_as(g)


def unpool_switches(g: torch.Tensor, switches: torch.Tensor, in_shape: tuple[int, ...], nf: int) -> torch.Tensor:
    """Each value back to the position its maximum came from (summed where windows overlap)."""
    n, c = g.shape[:2]
    b = switches.shape[0]
    idx = switches.flatten(2).unsqueeze(1).expand(b, nf, c, -1).reshape(n, c, -1)
    out = g.new_zeros(n, c, in_shape[2] * in_shape[3])
    return out.scatter_add_(2, idx, g.flatten(2)).view(n, c, in_shape[2], in_shape[3])


def unpool_fill(g: torch.Tensor, kernel: tuple[int, int], in_shape: tuple[int, ...]) -> torch.Tensor:
    """Each value over its whole (non-overlapping) pooling window; rows or columns no window read stay zero."""
    up = g.repeat_interleave(kernel[0], dim=2).repeat_interleave(kernel[1], dim=3)
    h, w = in_shape[2], in_shape[3]
    up = up[:, :, :h, :w]
    if up.shape[2] < h or up.shape[3] < w:
        up = F.pad(up, (0, w - up.shape[3], 0, h - up.shape[2]))
    return up


def linear_vjp(fn, in_shape: tuple[int, ...], g: torch.Tensor) -> torch.Tensor:
    """The VJP of a linear map (its value at zero is irrelevant, so it runs on zeros)."""
    x = g.new_zeros((g.shape[0], *in_shape[1:]), requires_grad=True)
    with torch.enable_grad():
        y = fn(x)
        return torch.autograd.grad(y, x, g)[0]


class _Rules:
    """Per graph, once: each node's rule, the nodes in reverse order, and the shape arithmetic below each node."""

    def __init__(self, graph: ModelGraph) -> None:
        self.graph = graph
        self.order = list(reversed(list(graph.gm.graph.nodes)))
        self.rule = {node: _rule(graph, node) for node in graph.gm.graph.nodes}
        self._arithmetic: dict[fx.Node, list[fx.Node]] = {}

    def arithmetic(self, node: fx.Node) -> list[fx.Node]:
        """Non-tensor nodes computed from the input that `node` reads (ShuffleNet's x.size()), in graph order.

        They are recomputed from the repeated inputs, so that a batch size read from a tensor is B * F.
        """
        found = self._arithmetic.get(node)
        if found is None:
            graph = self.graph
            seen: set[fx.Node] = set()
            stack = list(node.all_input_nodes)
            while stack:
                n = stack.pop()
                if n in seen or n not in graph.dependent or n in graph.shapes or n in graph.sequences:
                    continue
                seen.add(n)
                stack.extend(n.all_input_nodes)
            position = {n: i for i, n in enumerate(graph.gm.graph.nodes)}
            found = sorted(seen, key=position.__getitem__)
            self._arithmetic[node] = found
        return found


def _rule(graph: ModelGraph, node: fx.Node) -> int:
    kind = graph.activation.get(node)
    if kind == "ReLU":
        return _RELU
    if node in graph.rectifiers:
        return _RECTIFIER
    if node in graph.pools:
        return _MAXPOOL
    if node.op == "call_module":
        module = graph.gm.get_submodule(str(node.target))
        if isinstance(module, nn.Conv2d):
            return _CONV
        if isinstance(module, nn.BatchNorm2d):
            return _BN
        if isinstance(module, IDENTITY_MODULES):
            return _IDENTITY
        if isinstance(module, LINEAR_MODULES):
            return _LINEAR
        return _VJP
    if node.op == "call_method":
        return _IDENTITY if node.target in IDENTITY_METHODS else _VJP
    if node.op != "call_function":
        return _VJP
    if node.target in ADDITIONS:
        return _ADD
    if node.target in PRODUCTS:
        return _PRODUCT
    if node.target in CONCATENATIONS and node.args and isinstance(node.args[0], (list, tuple)):
        return _CAT
    source = node.args[0] if node.args else None
    if (
        node.target is operator.getitem
        and isinstance(source, fx.Node)
        and source in graph.sequences
        and isinstance(node.args[1], int)
    ):
        return _PART
    return _VJP


_RULES: weakref.WeakKeyDictionary[ModelGraph, _Rules] = weakref.WeakKeyDictionary()


def _rules_of(graph: ModelGraph) -> _Rules:
    rules = _RULES.get(graph)
    if rules is None:  # two threads may both build them: the same rules, and either copy serves
        rules = _RULES[graph] = _Rules(graph)
    return rules


class Descent:
    """One way down from `top` (a node) to the input, for `nf` features per image at a time."""

    def __init__(
        self, graph: ModelGraph, values: dict, method: str, unpool: str, stop: Callable[[], None] | None = None
    ) -> None:
        self.graph = graph
        self.stop = stop  # called before each step down (it raises to stop)
        self.gm = graph.gm
        self.values = values
        self.method = method
        self.unpool = unpool
        self.dependent = graph.dependent
        self.rules = _rules_of(graph)

    def run(self, start: fx.Node, signal: torch.Tensor, nf: int) -> torch.Tensor:
        """The signal at the input: `signal` [B * nf, ...] sits at node `start`."""
        grads: dict[fx.Node, Any] = {start: signal}
        skipped: set[fx.Node] = set()
        for node in self.rules.order:
            g = grads.pop(node, None)
            if g is None:
                continue
            if node.op == "placeholder":
                return g
            if node in skipped:  # a ReLU already applied below its pool
                self._send(grads, node.all_input_nodes[0], g)
                continue
            if self.stop is not None:
                self.stop()
            self._step(node, g, nf, grads, skipped)
        raise ModelError("the signal did not reach the input")

    @staticmethod
    def _send(grads: dict, node: fx.Node, g: torch.Tensor) -> None:
        grads[node] = grads[node] + g if node in grads else g

    @staticmethod
    def _send_part(grads: dict, node: fx.Node, index: int, g: torch.Tensor) -> None:
        """A signal for one part of a sequence (a chunk, a split): the parts go down together, in one VJP."""
        parts = grads.setdefault(node, {})
        parts[index] = parts[index] + g if index in parts else g

    def _shape(self, node: fx.Node) -> tuple[int, ...]:
        value = self.values[node]
        return tuple(value.shape)

    def _step(self, node: fx.Node, g: Any, nf: int, grads: dict, skipped: set) -> None:
        rule = self.rules.rule[node]
        if rule == _RELU:
            self._send(grads, node.all_input_nodes[0], rectify(g, self.values[node], self.method, nf))
        elif rule == _RECTIFIER:
            if self.method == "deconvnet":
                self._send(grads, node.all_input_nodes[0], F.relu(g))
            else:
                self._vjp(node, F.relu(g) if self.method == "guided" else g, nf, grads)
        elif rule == _MAXPOOL:
            self._unpool(node, g, nf, grads, skipped)
        elif rule == _CONV:
            src = node.all_input_nodes[0]
            conv = self.gm.get_submodule(str(node.target))
            assert isinstance(conv, nn.Conv2d)
            self._send(grads, src, conv_input_grad(conv, g, (g.shape[0], *self._shape(src)[1:])))
        elif rule == _BN:
            bn = self.gm.get_submodule(str(node.target))
            assert isinstance(bn, nn.BatchNorm2d)
            self._send(grads, node.all_input_nodes[0], g * bn_scale(bn).view(1, -1, 1, 1).to(g.dtype))
        elif rule == _IDENTITY:
            self._send(grads, node.all_input_nodes[0], g)
        elif rule == _LINEAR:
            src = node.all_input_nodes[0]
            module = self.gm.get_submodule(str(node.target))
            self._send(grads, src, linear_vjp(_eval_call(module), self._shape(src), g))
        elif rule == _ADD:
            self._add(node, g, grads)
        elif rule == _PRODUCT:
            self._scale(node, g, nf, grads)
        elif rule == _CAT:
            self._split(node, g, nf, grads)
        elif rule == _PART:
            seq = node.args[0]
            assert isinstance(seq, fx.Node)
            self._send_part(grads, seq, int(node.args[1]), g)  # type: ignore[arg-type]
        else:
            self._vjp(node, g, nf, grads)

    def _on_path(self, node: fx.Node) -> bool:
        """Whether `node` carries signal: a tensor (or tensors) computed from the input, not a buffer or constant."""
        return node in self.dependent and (node in self.graph.shapes or node in self.graph.sequences)

    def _unpool(self, node: fx.Node, g: torch.Tensor, nf: int, grads: dict, skipped: set) -> None:
        src = node.all_input_nodes[0]
        geo = self.graph.pools[node]
        # A non-overlapping pool right above a ReLU (and its only reader): rectify the 4x smaller
        # pooled signal first. At a switch the ReLU's input is > 0 exactly when the pooled
        # maximum is; where windows overlap, sums of rectified values would differ, so not there.
        if geo.non_overlapping and src in self.graph.relus and len(src.users) == 1:
            g = rectify(g, self.values[node], self.method, nf)
            skipped.add(src)
        if self.unpool == "fill":
            if not geo.non_overlapping:
                raise OptionError(
                    f"unpool='fill' needs non-overlapping pooling, and {self.graph.qualname[node]} "
                    f"({geo.kernel[0]}x{geo.kernel[1]}, stride {geo.stride[0]}, padding {geo.padding[0]}) overlaps: use 'switches'"
                )
            up = unpool_fill(g, geo.kernel, self._shape(src))
        else:
            up = unpool_switches(g, self.values[(node, "switches")], self._shape(src), nf)
        self._send(grads, src, up)

    def _add(self, node: fx.Node, g: torch.Tensor, grads: dict) -> None:
        sign = -1.0 if node.target in (operator.sub, torch.sub) else 1.0
        for i, arg in enumerate(node.args[:2]):
            if isinstance(arg, fx.Node) and self._on_path(arg):
                part = g if i == 0 or sign > 0 else -g
                self._send(grads, arg, _sum_to(part, self._shape(arg)))

    def _scale(self, node: fx.Node, g: torch.Tensor, nf: int, grads: dict) -> None:
        a, b = node.args[:2]
        on_path = [isinstance(v, fx.Node) and self._on_path(v) for v in (a, b)]
        src, other = (a, b) if on_path[0] else (b, a)
        division = node.target in (operator.truediv, torch.div)
        if (on_path[0] and on_path[1]) or (division and src is b) or node.kwargs:
            self._vjp(node, g, nf, grads)  # a product of two signals, a division by one
            return
        factor: Any = self.values[other] if isinstance(other, fx.Node) else other
        if division:
            factor = 1.0 / factor
        assert isinstance(src, fx.Node)
        self._send(grads, src, _sum_to(g * factor, self._shape(src)))

    def _split(self, node: fx.Node, g: torch.Tensor, nf: int, grads: dict) -> None:
        """A concatenation's signal cut back into its parts."""
        parts = node.args[0]
        assert isinstance(parts, (list, tuple))
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        dim = int(dim) % g.dim()  # type: ignore[arg-type]
        if dim == 0:
            self._vjp(node, g, nf, grads)
            return
        start = 0
        for part in parts:
            width = self.values[part].shape[dim] if isinstance(part, fx.Node) else part.shape[dim]  # type: ignore[union-attr]
            if isinstance(part, fx.Node) and self._on_path(part):
                self._send(grads, part, g.narrow(dim, start, width))
            start += width

    def _vjp(self, node: fx.Node, g: Any, nf: int, grads: dict) -> None:
        """The signal times the node's Jacobian at the recorded values (exact for a linear node)."""
        graph = self.graph
        leaves = [a for a in node.all_input_nodes if self._on_path(a)]
        with torch.enable_grad():
            env: dict[Any, Any] = {a: self.values[a] for a in node.all_input_nodes}
            for a in leaves:
                env[a] = _repeat(self.values[a], nf)
            for n in self.rules.arithmetic(node):
                for a in n.all_input_nodes:
                    if a not in env:
                        env[a] = _stand_in(self.values[a], nf) if self._on_path(a) else self.values[a]
                env[n] = graph.call(n, env)
            out = graph.call(node, env)
            if isinstance(g, dict):  # the parts of a sequence
                outputs, signals = [out[i] for i in g], list(g.values())
            else:
                outputs, signals = [out], [g]
            inputs = [t for a in leaves for t in (env[a] if a in graph.sequences else [env[a]])]
            if not any(o.requires_grad for o in outputs):
                return
            found = torch.autograd.grad(outputs, inputs, signals, allow_unused=True)
        at = 0
        for a in leaves:
            if a in graph.sequences:
                for i in range(len(env[a])):
                    if found[at + i] is not None:
                        self._send_part(grads, a, i, found[at + i])  # type: ignore[arg-type]
                at += len(env[a])
            else:
                if found[at] is not None:
                    self._send(grads, a, found[at])  # type: ignore[arg-type]
                at += 1


def conv_input_grad(conv: nn.Conv2d, g: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
    """The transposed convolution of `g` (no bias): d(conv(x))/dx applied to `g`."""
    if conv.padding_mode != "zeros":
        return linear_vjp(lambda t: conv._conv_forward(t, conv.weight, None), x_shape, g)
    padding = conv.padding if not isinstance(conv.padding, str) else _same_padding(conv)
    weight = conv.weight.to(g.dtype)
    if conv.groups == 1 and weight.shape[1] <= FEW_CHANNELS and g.shape[0] * x_shape[2] * x_shape[3] >= TAP_SUM_PIXELS:
        return _tap_sum_input_grad(weight, g, x_shape, conv.stride, tuple(padding), conv.dilation)
    # torch.nn.grad.conv2d_input passes an expanded stand-in for the input, whose layout oneDNN's result is then
    # copied to (3.8 ms of VGG-16's first layer at 224 px); an uninitialised contiguous one costs nothing.
    stand_in = g.new_empty(x_shape)
    return torch.ops.aten.convolution_backward(
        g, stand_in, weight, None, list(conv.stride), list(padding), list(conv.dilation), False, [0, 0], conv.groups,
        (True, False, False),
    )[0]  # fmt: skip


# Up to this many input channels (an image's three), a transposed conv is a matrix product and a sum of shifted
# planes: oneDNN's kernels block the output channels by 8 or 16 and took 10.9 ms for SeedNet's conv1 with 64 maps
# (157 million multiply-adds) on one thread, where this takes 4.6 ms.
FEW_CHANNELS = 4
# From this many input pixels (the batch's): one 32x32 image's costs 0.31 ms so and 0.23 ms through oneDNN;, two
# images' 0.35 against 0.39 ms, ResNet-50's stem for one 224-pixel image 3.4 against 7.8 ms.
TAP_SUM_PIXELS = 2 * 32 * 32


def _tap_sum_input_grad(
    weight: torch.Tensor,
    g: torch.Tensor,
    x_shape: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> torch.Tensor:
    """d(conv(x))/dx applied to `g` [B, Cout, h, w]: every kernel tap's contribution in one matrix product
    ([kh * kw * Cin, Cout] times the signal), then each tap's [B, Cin, h, w] plane added at its offset in the
    padded input, which is cropped at the end."""
    b, cout, h, w = g.shape
    cin, kh, kw = weight.shape[1:]
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    taps = weight.permute(2, 3, 1, 0).reshape(kh * kw * cin, cout)
    planes = torch.matmul(taps, g.reshape(b, cout, h * w)).view(b, kh, kw, cin, h, w)
    out = g.new_zeros(b, cin, x_shape[2] + 2 * ph, x_shape[3] + 2 * pw)
    for i in range(kh):
        for j in range(kw):
            y, x = i * dh, j * dw
            out[:, :, y : y + (h - 1) * sh + 1 : sh, x : x + (w - 1) * sw + 1 : sw] += planes[:, i, j]
    return out[:, :, ph : ph + x_shape[2], pw : pw + x_shape[3]].contiguous()


def _same_padding(conv: nn.Conv2d) -> tuple[int, int]:
    if conv.padding == "valid":
        return (0, 0)
    k, d = conv.kernel_size, conv.dilation
    total = [d[i] * (k[i] - 1) for i in range(2)]
    if any(t % 2 for t in total):
        raise ModelError(f"{conv}: asymmetric 'same' padding is not supported")
    return (total[0] // 2, total[1] // 2)


def bn_scale(bn: nn.BatchNorm2d) -> torch.Tensor:
    """The per-channel factor of an eval-mode BatchNorm: weight / sqrt(running_var + eps)."""
    assert bn.running_var is not None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    return scale * bn.weight if bn.weight is not None else scale


def _eval_call(module: nn.Module):
    def call(t: torch.Tensor) -> torch.Tensor:
        if isinstance(module, nn.Conv2d):
            return module._conv_forward(t, module.weight, None)
        if isinstance(module, nn.Linear):
            return F.linear(t, module.weight)
        return module(t)

    return call


def _repeat(value: Any, nf: int) -> Any:
    """Each image's value nf times over (a fresh leaf for autograd); a sequence part by part."""
    if isinstance(value, (tuple, list)):
        return type(value)(_repeat(v, nf) for v in value)
    return (value.detach() if nf == 1 else value.detach().repeat_interleave(nf, dim=0)).requires_grad_(True)


def _stand_in(value: torch.Tensor, nf: int) -> torch.Tensor:
    """A data-free tensor shaped like `value` repeated nf times: enough for the shape arithmetic that reads it."""
    return torch.empty((value.shape[0] * nf, *value.shape[1:]), dtype=value.dtype, device="meta")


def _sum_to(g: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Reduce a broadcast signal back to `shape` (batch dimension excepted)."""
    target = (g.shape[0], *shape[1:])
    if tuple(g.shape) == target:
        return g
    while g.dim() > len(target):
        g = g.sum(0)
    dims = [i for i in range(1, len(target)) if target[i] == 1 and g.shape[i] != 1]
    return g.sum(dims, keepdim=True) if dims else g
