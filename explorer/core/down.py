"""The way down a traced model: a feature's signal from a layer back to the input, one rule per operation.

deconvnet rectifies the signal at every ReLU, guided also masks it by the forward ReLU, gradient
masks it only; convolutions go down through their transposed filters (biases play no part),
BatchNorm in eval mode as its affine scale, residual additions into both branches, max-pools back
to their switches or filling their windows. Every linear operation without a rule of its own goes
down by its vector-Jacobian product; a non-linear one is refused by name, except for the gradient,
which holds for any differentiable model.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.errors import ModelError
from explorer.core.graph import ModelGraph, is_maxpool, is_relu, pool_geometry

# Modules that are linear maps of their input in eval mode (the way down is their VJP).
LINEAR_MODULES = (
    nn.Conv2d,
    nn.Linear,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
    nn.BatchNorm2d,
)
PASS_FUNCTIONS = (torch.flatten, torch.reshape, F.dropout, F.adaptive_avg_pool2d, F.avg_pool2d)
PASS_METHODS = ("view", "reshape", "flatten", "contiguous", "clone")


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


class Descent:
    """One way down from `top` (a node) to the input, for `nf` features per image at a time."""

    def __init__(self, graph: ModelGraph, values: dict, method: str, unpool: str) -> None:
        self.graph = graph
        self.gm = graph.gm
        self.values = values
        self.method = method
        self.unpool = unpool
        self.dependent = graph.dependent

    def run(self, start: fx.Node, signal: torch.Tensor, nf: int) -> torch.Tensor:
        """The signal at the input: `signal` [B * nf, ...] sits at node `start`."""
        grads: dict[fx.Node, torch.Tensor] = {start: signal}
        skipped: set[fx.Node] = set()
        for node in reversed(list(self.gm.graph.nodes)):
            g = grads.pop(node, None)
            if g is None:
                continue
            if node.op == "placeholder":
                return g
            if node in skipped:  # a ReLU already applied below its pool
                self._send(grads, node.all_input_nodes[0], g)
                continue
            self._step(node, g, nf, grads, skipped)
        raise ModelError("the signal did not reach the input")

    @staticmethod
    def _send(grads: dict, node: fx.Node, g: torch.Tensor) -> None:
        grads[node] = grads[node] + g if node in grads else g

    def _shape(self, node: fx.Node) -> tuple[int, ...]:
        value = self.values[node]
        return tuple(value.shape)

    def _step(self, node: fx.Node, g: torch.Tensor, nf: int, grads: dict, skipped: set) -> None:
        gm = self.gm
        inputs = [a for a in node.all_input_nodes if self._on_path(a)]
        if is_relu(gm, node):
            self._send(grads, inputs[0], rectify(g, self.values[node], self.method, nf))
            return
        if is_maxpool(gm, node):
            src = inputs[0]
            geo = pool_geometry(gm, node)
            # A non-overlapping pool right above a ReLU (and its only reader): rectify the 4x smaller
            # pooled signal first. At a switch the ReLU's input is > 0 exactly when the pooled
            # maximum is; where windows overlap, sums of rectified values would differ, so not there.
            if geo.non_overlapping and is_relu(gm, src) and len(src.users) == 1:
                g = rectify(g, self.values[node], self.method, nf)
                skipped.add(src)
            if self.unpool == "fill":
                if not geo.non_overlapping:
                    raise ValueError(
                        f"unpool='fill' needs non-overlapping pooling, and {self.graph.qualname[node]} "
                        f"({geo.kernel[0]}x{geo.kernel[1]}, stride {geo.stride[0]}, padding {geo.padding[0]}) overlaps: use 'switches'"
                    )
                up = unpool_fill(g, geo.kernel, self._shape(src))
            else:
                up = unpool_switches(g, self.values[(node, "switches")], self._shape(src), nf)
            self._send(grads, src, up)
            return
        if node.op == "call_module":
            module = gm.get_submodule(str(node.target))
            if isinstance(module, nn.Conv2d):
                x_shape = (g.shape[0], *self._shape(inputs[0])[1:])
                self._send(grads, inputs[0], conv_input_grad(module, g, x_shape))
                return
            if isinstance(module, nn.BatchNorm2d):
                self._send(grads, inputs[0], g * bn_scale(module).view(1, -1, 1, 1).to(g.dtype))
                return
            if isinstance(module, (nn.Dropout, nn.Dropout2d, nn.Identity)):
                self._send(grads, inputs[0], g)
                return
            if isinstance(module, LINEAR_MODULES):
                self._send(grads, inputs[0], linear_vjp(_eval_call(module), self._shape(inputs[0]), g))
                return
            self._nonlinear(node, g, nf, grads, f"{node.target} ({type(module).__name__})")
            return
        if node.op == "call_function" and node.target in (operator.add, torch.add, operator.sub, torch.sub):
            self._add(node, g, grads)
            return
        if node.op == "call_function" and node.target in (operator.mul, torch.mul, operator.truediv, torch.div):
            self._scale(node, g, nf, grads)
            return
        if (node.op == "call_function" and node.target in PASS_FUNCTIONS) or (
            node.op == "call_method" and node.target in PASS_METHODS
        ):
            src = inputs[0]
            fn = _bind(node, self.values)
            self._send(grads, src, linear_vjp(fn, self._shape(src), g))
            return
        self._nonlinear(
            node, g, nf, grads, f"{self.graph.qualname[node]} ({node.target if node.op != 'call_module' else ''})"
        )

    def _on_path(self, node: fx.Node) -> bool:
        """Whether `node` carries signal: a tensor computed from the input (not a buffer or constant)."""
        return node in self.dependent and isinstance(self.values.get(node), torch.Tensor)

    def _add(self, node: fx.Node, g: torch.Tensor, grads: dict) -> None:
        sign = -1.0 if node.target in (operator.sub, torch.sub) else 1.0
        for i, arg in enumerate(node.args[:2]):
            if isinstance(arg, fx.Node) and self._on_path(arg):
                part = g if i == 0 or sign > 0 else -g
                self._send(grads, arg, _sum_to(part, self._shape(arg)))

    def _scale(self, node: fx.Node, g: torch.Tensor, nf: int, grads: dict) -> None:
        a, b = node.args[:2]
        on_path = [isinstance(v, fx.Node) and self._on_path(v) for v in (a, b)]
        if on_path[0] and on_path[1]:
            self._nonlinear(node, g, nf, grads, f"{self.graph.qualname[node]} (a product of two signals)")
            return
        src, other = (a, b) if on_path[0] else (b, a)
        factor: Any = self.values[other] if isinstance(other, fx.Node) else other
        if node.target in (operator.truediv, torch.div):
            if src is b:
                self._nonlinear(node, g, nf, grads, f"{self.graph.qualname[node]} (division by the signal)")
                return
            factor = 1.0 / factor
        assert isinstance(src, fx.Node)
        self._send(grads, src, _sum_to(g * factor, self._shape(src)))

    def _nonlinear(self, node: fx.Node, g: torch.Tensor, nf: int, grads: dict, what: str) -> None:
        if self.method != "gradient":
            raise ModelError(
                f"{what.strip()}: no {self.method} rule for this operation (only ReLU, max-pooling and linear parts have one); "
                "method='gradient' works on any differentiable model"
            )
        tensors = [a for a in node.all_input_nodes if self._on_path(a)]
        with torch.enable_grad():
            reps = {a: _repeat(self.values[a], nf).detach().requires_grad_(True) for a in tensors}
            env = {**{k: v for k, v in self.values.items() if isinstance(k, fx.Node)}, **reps}
            out = _call(self.gm, node, env)
            parts = torch.autograd.grad(out, [reps[a] for a in tensors], g, allow_unused=True)
        for a, part in zip(tensors, parts, strict=True):
            if part is not None:
                self._send(grads, a, part)


def conv_input_grad(conv: nn.Conv2d, g: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
    """The transposed convolution of `g` (no bias): d(conv(x))/dx applied to `g`."""
    if conv.padding_mode != "zeros":
        return linear_vjp(lambda t: conv._conv_forward(t, conv.weight, None), x_shape, g)
    padding = conv.padding if not isinstance(conv.padding, str) else _same_padding(conv)
    return torch.nn.grad.conv2d_input(  # type: ignore[attr-defined]
        list(x_shape), conv.weight.to(g.dtype), g, conv.stride, padding, conv.dilation, conv.groups
    )


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


def _bind(node: fx.Node, values: dict):
    src = node.all_input_nodes[0]

    def call(t: torch.Tensor) -> torch.Tensor:
        env = {k: v for k, v in values.items() if isinstance(k, fx.Node)}
        env[src] = t
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "call_method":
            first, *rest = args
            if node.target in ("view", "reshape"):
                rest = [t.shape[0] if i == 0 and isinstance(r, int) and r != -1 else r for i, r in enumerate(rest)]
            return getattr(first, str(node.target))(*rest, **kwargs)
        return node.target(*args, **kwargs)  # type: ignore[operator]

    return call


def _call(gm: fx.GraphModule, node: fx.Node, env: dict) -> torch.Tensor:
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    if node.op == "call_module":
        return gm.get_submodule(str(node.target))(*args, **kwargs)
    if node.op == "call_method":
        first, *rest = args
        return getattr(first, str(node.target))(*rest, **kwargs)
    return node.target(*args, **kwargs)  # type: ignore[operator]


def _repeat(value: torch.Tensor, nf: int) -> torch.Tensor:
    return value.repeat_interleave(nf, dim=0)


def _sum_to(g: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Reduce a broadcast signal back to `shape` (batch dimension excepted)."""
    target = (g.shape[0], *shape[1:])
    if tuple(g.shape) == target:
        return g
    while g.dim() > len(target):
        g = g.sum(0)
    dims = [i for i in range(1, len(target)) if target[i] == 1 and g.shape[i] != 1]
    return g.sum(dims, keepdim=True) if dims else g
