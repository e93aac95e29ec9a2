"""Receptive-field geometry through a traced graph: how far each node's output positions reach into the input.

A convolution or pool widens and strides the field; pointwise operations carry it, and follow the
map's row and column axes through permutes, transposes and reshapes; an adaptive pool, or an
operation whose geometry is not worked out, reads the whole image.
The max-pools' geometry (`pool_geometry`) lives here too: it places the field, and the recorded
forward pass takes its switches with it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn


def is_maxpool(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), nn.MaxPool2d)
    return node.op == "call_function" and node.target in (F.max_pool2d, torch.max_pool2d)


@dataclass(frozen=True)
class PoolGeometry:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool

    @property
    def non_overlapping(self) -> bool:
        return self.kernel == self.stride and self.padding == (0, 0) and self.dilation == (1, 1)


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[-1]))
    return (int(v), int(v))


def pool_geometry(gm: fx.GraphModule, node: fx.Node) -> PoolGeometry:
    """Kernel, stride, padding, dilation and ceil mode of a max-pool node (module or functional)."""
    k: Any
    s: Any
    p: Any
    d: Any
    c: Any
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        k, s, p, d, c = m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode
    else:
        names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
        values = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
        k = values["kernel_size"]
        s = values.get("stride") or k
        p, d, c = values.get("padding", 0), values.get("dilation", 1), values.get("ceil_mode", False)
    return PoolGeometry(_pair(k), _pair(s if s is not None else k), _pair(p), _pair(d), bool(c))


_GLOBAL = "global"  # the geometry of an operation that reads the whole map (an adaptive pool)


def receptive_fields(
    gm: fx.GraphModule,
    input_node: fx.Node,
    input_size: int,
    shapes: dict[fx.Node, tuple[int, ...]],
    sequences: set[fx.Node],
    pools: dict[fx.Node, PoolGeometry],
) -> tuple[dict[fx.Node, tuple[int, int, int]], dict[fx.Node, tuple[int, int]]]:
    """(jump, lo, hi) of every node with spatial maps, and which axes of its value are rows and columns.

    Output index i reads input pixels i * jump + lo ... i * jump + hi. The axes follow permutes,
    transposes and reshapes that keep the map (a channels-last block, ShuffleNet's channel shuffle).
    """
    fields: dict[fx.Node, tuple[int, int, int]] = {input_node: (1, 0, 0)}
    axes: dict[fx.Node, tuple[int, int]] = {input_node: (2, 3)}
    whole = (0, 0, input_size - 1)  # every position reads the whole image
    for node in gm.graph.nodes:
        parents = [a for a in node.all_input_nodes if a in fields]
        if not parents or node.op == "placeholder":
            continue
        geometry = _geometry(gm, node, pools)
        if isinstance(geometry, str):  # a global operation: the field is the whole image from here on
            _whole_if_spatial(node, fields, axes, whole, shapes)
            continue
        if geometry is None:
            found = _carried_axes(gm, node, parents[0], axes[parents[0]], shapes, sequences)
            geometry = (1, 1, 0, 1)
        else:
            found = (2, 3) if axes[parents[0]] == (2, 3) else None
        if found is None:  # it moves positions in a way not worked out (an upsampling, say)
            _whole_if_spatial(node, fields, axes, whole, shapes)
            continue
        if any(fields[p] == whole for p in parents):
            fields[node], axes[node] = whole, found
            continue
        jump = fields[parents[0]][0]
        lo = min(fields[p][1] for p in parents)
        hi = max(fields[p][2] for p in parents)
        if any(fields[p][0] != jump for p in parents):
            _whole_if_spatial(node, fields, axes, whole, shapes)
            continue
        k, s, p, d = geometry
        fields[node] = (jump * s, lo - p * jump, hi + (d * (k - 1) - p) * jump)
        axes[node] = found
    return fields, axes


def _functional_conv(gm: fx.GraphModule, node: fx.Node) -> tuple[int, int, int, int] | str | None:
    """F.conv2d's geometry where its weight is a parameter of the model and its padding a number; else the whole
    image (_GLOBAL), never the geometry of a pointwise operation."""
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    values = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
    weight = values.get("weight")
    padding = values.get("padding", 0)
    if not (isinstance(weight, fx.Node) and weight.op == "get_attr") or isinstance(padding, str):
        return _GLOBAL
    k = operator.attrgetter(str(weight.target))(gm).shape[-2]
    return (int(k), _pair(values.get("stride", 1))[0], _pair(padding)[0], _pair(values.get("dilation", 1))[0])


def _whole_if_spatial(
    node: fx.Node, fields: dict, axes: dict, whole: tuple[int, int, int], shapes: dict[fx.Node, tuple[int, ...]]
) -> None:
    """A channels-first map of more than one position whose geometry is not worked out (after an adaptive
    pool to 5x5, an upsampling) reads the whole image: that field, never a wrong box. A 1x1 map (a
    squeeze-excitation's gate) scales its branch and stays out of the fields, as before."""
    shape = shapes.get(node)
    if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1:
        fields[node], axes[node] = whole, (2, 3)


def _carried_axes(
    gm: fx.GraphModule,
    node: fx.Node,
    parent: fx.Node,
    parent_axes: tuple[int, int],
    shapes: dict[fx.Node, tuple[int, ...]],
    sequences: set[fx.Node],
) -> tuple[int, int] | None:
    """The row and column axes of `node`, computed pointwise from `parent`; None when it mixes positions."""
    if node in sequences or parent in sequences:  # chunk, split, and the getitem that picks a part
        return parent_axes
    shape, before = shapes.get(node), shapes.get(parent)
    if shape is None or before is None:
        return None
    rows, cols = parent_axes
    if not _keeps_positions(gm, node, len(before), rows, cols):
        return None
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    if node.op in ("call_method", "call_function") and name in ("permute", "transpose", "swapaxes"):
        dims = [a for a in (*node.args[1:], *node.kwargs.values()) if not isinstance(a, fx.Node)]
        flat = [int(d) % len(before) for d in (dims[0] if isinstance(dims[0], (tuple, list)) else dims)]  # type: ignore[arg-type]
        if name == "permute":
            return (flat.index(rows), flat.index(cols))
        swap = {flat[0]: flat[1], flat[1]: flat[0]}
        return (swap.get(rows, rows), swap.get(cols, cols))
    h, w = before[rows], before[cols]
    if len(shape) == len(before) and (shape[rows], shape[cols]) == (h, w):
        return parent_axes
    if (rows, cols) == (len(before) - 2, len(before) - 1) and len(shape) >= 3 and shape[-2:] == (h, w):
        return (len(shape) - 2, len(shape) - 1)
    return None


def _geometry(
    gm: fx.GraphModule, node: fx.Node, pools: dict[fx.Node, PoolGeometry]
) -> tuple[int, int, int, int] | str | None:
    """(kernel, stride, padding, dilation) along rows of a conv or pool; _GLOBAL for an adaptive pool; None otherwise."""
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, nn.Conv2d):
            return (_pair(m.kernel_size)[0], _pair(m.stride)[0], _pair(m.padding)[0], _pair(m.dilation)[0])
        if isinstance(m, nn.AvgPool2d):
            stride = m.stride if m.stride is not None else m.kernel_size
            return (_pair(m.kernel_size)[0], _pair(stride)[0], _pair(m.padding)[0], 1)
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return _GLOBAL
    if node in pools:
        g = pools[node]
        return (g.kernel[0], g.stride[0], g.padding[0], g.dilation[0])
    if node.op == "call_function" and node.target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        return _GLOBAL
    if node.op == "call_function" and node.target in (F.conv2d, torch.conv2d):
        return _functional_conv(gm, node)
    if node.op == "call_function" and node.target in (F.avg_pool2d, torch._C._nn.avg_pool2d):
        names = ("input", "kernel_size", "stride", "padding")
        values = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
        k = values["kernel_size"]
        return (_pair(k)[0], _pair(values.get("stride") or k)[0], _pair(values.get("padding", 0))[0], 1)
    return None


# Operations known to leave every position where it is (elementwise, per-position over channels, or moving
# axes, which _carried_axes follows). Anything else that keeps the map's shape may still move positions (a
# flip, a roll, a functional or transposed convolution, a norm over the map): it reads the whole image.
_POSITION_KEEPING_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.ChannelShuffle,
    nn.LocalResponseNorm,
    nn.Softmax2d,
)
_POSITION_KEEPING_NAMES = frozenset(
    {
        # arithmetic and comparisons, as operators, torch functions and tensor methods
        "add", "sub", "mul", "truediv", "floordiv", "div", "true_divide", "neg", "pos", "abs", "pow", "mod",
        "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "square", "reciprocal", "sign",
        "clamp", "clip", "clamp_min", "clamp_max", "where", "maximum", "minimum", "lerp", "addcmul", "addcdiv",
        "lt", "le", "gt", "ge", "eq", "ne", "logical_and", "logical_or", "logical_not", "masked_fill",
        "sigmoid", "tanh", "erf", "sin", "cos", "nan_to_num", "round", "floor", "ceil", "trunc",
        # moving, joining and splitting axes (followed by _carried_axes), copies and types
        "getitem", "cat", "concat", "concatenate", "stack", "flatten", "unflatten", "reshape", "view", "view_as",
        "permute", "transpose", "swapaxes", "unsqueeze", "squeeze", "chunk", "split", "contiguous", "clone",
        "detach", "to", "type", "type_as", "float", "double", "half", "bfloat16", "expand", "expand_as",
        "size", "dim", "getattr", "channel_shuffle", "native_channel_shuffle",
        # reductions (over channels; one over the map changes the shape and is seen by it)
        "sum", "mean", "amax", "amin", "max", "min", "prod", "norm",
        # per-position normalisation and regularisation
        "batch_norm", "dropout", "dropout2d", "alpha_dropout", "feature_alpha_dropout", "stochastic_depth",
        "local_response_norm",
    }
)  # fmt: skip
_DIM_NAMES = frozenset({"softmax", "log_softmax", "normalize"})  # position-keeping unless along a map axis


def _keeps_positions(gm: fx.GraphModule, node: fx.Node, ndim: int, rows: int, cols: int) -> bool:
    """Whether `node` leaves each position of its input's map where it is (see _POSITION_KEEPING_NAMES)."""
    from explorer.core.activation_kinds import activation_kind

    if activation_kind(gm, node) is not None:
        return True
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, _POSITION_KEEPING_MODULES) or type(m).__name__ in ("StochasticDepth", "Permute"):
            return True
        if isinstance(m, nn.Linear):
            return cols != ndim - 1
        if isinstance(m, nn.LayerNorm):
            return not {rows, cols} & set(range(ndim - len(m.normalized_shape), ndim))
        return False
    name = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "")
    name = name.rstrip("_") if not name.startswith("_") else name
    if name in ("linear", "layer_norm"):
        if name == "linear":
            return cols != ndim - 1
        shape = node.args[1] if len(node.args) > 1 else node.kwargs.get("normalized_shape")
        k = len(shape) if isinstance(shape, (tuple, list)) else 1
        return not {rows, cols} & set(range(ndim - k, ndim))
    if name in _DIM_NAMES:
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else (1 if name == "normalize" else None))
        return isinstance(dim, int) and dim % ndim not in (rows, cols)
    return name in _POSITION_KEEPING_NAMES
