"""Any CNN as a traced graph: its selectable layers, their sizes and receptive fields, and a recorded forward pass.

A model is traced once with torch.fx (`NodeNameTracer`), and layer names are the node names of
`torchvision.models.feature_extraction.get_graph_node_names` in eval mode: `features.4`
in a VGG, `layer2.0.relu_1` for the output of ResNet's block `layer2.0`. The selectable layers are
the outputs of elementwise activations (ReLU and its variants, GELU, SiLU, Hardswish, ...: the
`ACTIVATION_*` tables) with spatial maps and no global operation (an adaptive pool) below them; a
model may rename them with a class attribute `layer_aliases` (SeedNet's `relu1` is `conv1`).

Two rewrites of the traced graph keep the recorded pass true to the model. An in-place operation
runs out of place, and the nodes after it that read the tensor it overwrote read its result
instead, so every recorded value is the one its readers saw. An activation that runs
channels-last (ConvNeXt's GELU between a permute and a Linear) gets a channels-first twin, the
same activation of its permuted input: that twin, [B, C, h, w] like every other layer, is what
the layer's name selects.
"""

from __future__ import annotations

import copy
import functools
import inspect
import operator
import re
import sys
import threading
import types
import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.errors import ModelError, OptionError
from explorer.core.model_meta import model_info


@dataclass(frozen=True)
class Layer:
    """A selectable layer: name, fx node, feature count, map size at the model's input size, receptive field.

    An output position (row, col) of the layer reads input pixels row * jump + lo ... row * jump + hi
    (inclusive, before clipping to the image); `field` = hi - lo + 1 is the receptive field's side.
    """

    name: str
    node: str
    channels: int
    size: tuple[int, int]
    jump: int
    lo: int
    hi: int
    pooled: bool = False  # a max-pool lies between the input and the layer (so switches and fill differ)
    activation: str = "ReLU"

    @property
    def field(self) -> int:
        return self.hi - self.lo + 1


# Elementwise activations by the name the explorer shows for them; their outputs are the layers.
ACTIVATION_MODULES: dict[type[nn.Module], str] = {
    nn.ReLU: "ReLU",
    nn.ReLU6: "ReLU6",
    nn.LeakyReLU: "LeakyReLU",
    nn.PReLU: "PReLU",
    nn.ELU: "ELU",
    nn.SELU: "SELU",
    nn.CELU: "CELU",
    nn.GELU: "GELU",
    nn.SiLU: "SiLU",
    nn.Mish: "Mish",
    nn.Hardswish: "Hardswish",
    nn.Hardtanh: "Hardtanh",
    nn.Softplus: "Softplus",
    nn.Tanh: "Tanh",
}
ACTIVATION_FUNCTIONS: dict[Any, str] = {
    F.relu: "ReLU",
    torch.relu: "ReLU",
    torch.relu_: "ReLU",
    F.relu6: "ReLU6",
    F.leaky_relu: "LeakyReLU",
    F.leaky_relu_: "LeakyReLU",
    F.prelu: "PReLU",
    F.elu: "ELU",
    F.elu_: "ELU",
    F.selu: "SELU",
    torch.selu: "SELU",
    torch.selu_: "SELU",
    F.celu: "CELU",
    torch.celu: "CELU",
    torch.celu_: "CELU",
    F.gelu: "GELU",
    F.silu: "SiLU",
    F.mish: "Mish",
    F.hardswish: "Hardswish",
    F.hardtanh: "Hardtanh",
    F.hardtanh_: "Hardtanh",
    F.softplus: "Softplus",
    F.tanh: "Tanh",
    torch.tanh: "Tanh",
    torch.tanh_: "Tanh",
}
ACTIVATION_METHODS = {"relu": "ReLU", "relu_": "ReLU", "tanh": "Tanh", "tanh_": "Tanh"}

# Activations that pass positive inputs unchanged and cut (or scale down) negative ones: deconvnet and
# guided backprop rectify the signal at them (explorer.core.down); every other activation passes it by its gradient.
RECTIFIERS = frozenset({"ReLU", "ReLU6", "LeakyReLU", "PReLU"})

RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_)


def activation_kind(gm: fx.GraphModule, node: fx.Node) -> str | None:
    """The activation `node` applies ("ReLU", "SiLU", ...), or None when it is no elementwise activation."""
    if node.op == "call_module":
        for cls in type(gm.get_submodule(str(node.target))).__mro__:
            kind = ACTIVATION_MODULES.get(cls)
            if kind is not None:
                return kind
        return None
    if node.op == "call_function":
        return ACTIVATION_FUNCTIONS.get(node.target)
    if node.op == "call_method":
        return ACTIVATION_METHODS.get(str(node.target))
    return None


def is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    return activation_kind(gm, node) == "ReLU"


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


_IN_PLACE_OPERATORS = {
    operator.iadd: operator.add,
    operator.isub: operator.sub,
    operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
}


def out_of_place(gm: fx.GraphModule, node: fx.Node) -> tuple[Any, tuple, dict] | None:
    """(callable or method name, args, kwargs) computing `node` without writing its input; None when it writes nothing.

    In place are modules built with `inplace=True`, functions given `inplace=True`, `torch.relu_`-style
    functions, `x.add_()`-style methods and the augmented operators.
    """
    args, kwargs = tuple(node.args), dict(node.kwargs)
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if getattr(module, "inplace", False) is not True:
            return None
        plain = copy.copy(module)  # shares parameters; only the flag differs
        plain.inplace = False  # type: ignore[assignment]
        return plain, args, kwargs
    if node.op == "call_method":
        name = str(node.target)
        if name.endswith("_") and not name.endswith("__") and hasattr(torch.Tensor, name[:-1]):
            return name[:-1], args, kwargs
        return None
    if node.op != "call_function":
        return None
    target: Any = node.target
    if target in _IN_PLACE_OPERATORS:
        return _IN_PLACE_OPERATORS[target], args, kwargs
    name = getattr(target, "__name__", "")
    if name.endswith("_") and not name.startswith("_"):
        for owner in (F, torch):
            if getattr(owner, name, None) is target and hasattr(owner, name[:-1]):
                return getattr(owner, name[:-1]), args, kwargs
    if kwargs.get("inplace") is True:
        return target, args, kwargs | {"inplace": False}
    try:
        params = list(inspect.signature(target).parameters)
    except (TypeError, ValueError):  # a builtin without a signature takes no inplace flag
        return None
    at = params.index("inplace") if "inplace" in params else -1
    if 0 <= at < len(args) and args[at] is True:
        return target, (*args[:at], False, *args[at + 1 :]), kwargs
    return None


# How `ModelGraph.run` computes a node.
_INPUT, _OUTPUT, _ATTR, _RELU, _MAXPOOL, _CALL, _METHOD = range(7)
_GLOBAL = "global"  # the geometry of an operation that reads the whole map (an adaptive pool)


class ModelGraph:
    """The traced model with its layers; `run` records the values a projection needs on the way down."""

    def __init__(self, model: nn.Module) -> None:
        info = model_info(model)
        was_training = model.training
        model.eval()
        try:
            tracer = _tracer()
            with _TRACING:
                graph = tracer.trace(model)
        except Exception as exc:
            raise ModelError(
                f"{_class_name(model)}: torch.fx cannot trace it ({type(exc).__name__}: {_first_line(exc)}); "
                "data-dependent control flow in forward() is the usual cause"
            ) from None
        finally:
            model.train(was_training)
        self.gm = fx.GraphModule(model, graph)
        # A wrapper that normalises the input for the model it holds names nodes without its own prefix.
        prefix = getattr(model, "node_prefix", "")
        self.qualname = {
            node: tracer.node_to_qualname.get(node, node.name).removeprefix(prefix) for node in graph.nodes
        }
        self.by_name = {self.qualname[n]: n for n in tracer.node_to_qualname}
        # Nodes inside a module torchvision names as one node: shown by path in messages, never selectable.
        self.qualname |= {n: q.removeprefix(prefix) for n, q in tracer.inner_names.items()}
        self._inner = set(tracer.inner_names)
        self.input_node = next(n for n in graph.nodes if n.op == "placeholder")
        self.aliases = dict(getattr(model, "layer_aliases", {}) or {})
        self.input_size = info.input_size
        self._functionalize()
        self._compile()
        self.shapes = self._shapes(model, info.input_size)
        self.layers = self._layers()
        self.layer_by_name = {layer.name: layer for layer in self.layers}
        self.dependent = _descendants(self.input_node)

    # -- structure ---------------------------------------------------------------------------

    def _functionalize(self) -> None:
        """Readers of a tensor that an in-place node overwrote read that node instead (it will run out of place)."""
        order = {n: i for i, n in enumerate(self.gm.graph.nodes)}
        for node in list(self.gm.graph.nodes):
            if out_of_place(self.gm, node) is None or not node.args or not isinstance(node.args[0], fx.Node):
                continue
            written = node.args[0]
            for user in list(written.users):
                if order[user] > order[node]:
                    user.replace_input_with(written, node)

    def _compile(self) -> None:
        """How each node runs: what it is (activation, pool), and its out-of-place form."""
        gm = self.gm
        self.activation: dict[fx.Node, str] = {}
        self.pools: dict[fx.Node, PoolGeometry] = {}
        self._ops: dict[fx.Node, tuple[int, Any, tuple, dict]] = {}
        for node in gm.graph.nodes:
            kind = activation_kind(gm, node)
            if kind is not None:
                self.activation[node] = kind
            if is_maxpool(gm, node):
                self.pools[node] = pool_geometry(gm, node)
            plain = out_of_place(gm, node)
            fn, args, kwargs = plain if plain is not None else (node.target, tuple(node.args), dict(node.kwargs))
            if node.op == "placeholder":
                op = _INPUT
            elif node.op == "output":
                op = _OUTPUT
            elif node.op == "get_attr":
                op = _ATTR
            elif kind == "ReLU":
                op = _RELU
            elif node in self.pools:
                op = _MAXPOOL
            elif node.op == "call_method":
                op = _METHOD
            else:
                op = _CALL
            if node.op == "call_module" and plain is None:
                fn = gm.get_submodule(str(node.target))
            self._ops[node] = (op, fn, args, kwargs)
        self.relus = {n for n, k in self.activation.items() if k == "ReLU"}
        self.rectifiers = {n for n, k in self.activation.items() if k in RECTIFIERS}
        # ReLUs that may overwrite their input in a maps-only pass: the conv's or BatchNorm's fresh
        # output, read by nothing else.
        self._scratchable = {
            n
            for n in self.relus
            if n.all_input_nodes
            and len(n.all_input_nodes[0].users) == 1
            and n.all_input_nodes[0].op == "call_module"
            and isinstance(gm.get_submodule(str(n.all_input_nodes[0].target)), (nn.Conv2d, nn.BatchNorm2d))
        }
        self._plan = list(self._ops.items())

    def _shapes(self, model: nn.Module, size: int) -> dict[fx.Node, tuple[int, ...]]:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else torch.float32
        x = torch.zeros(1, 3, size, size, device=device, dtype=dtype)
        try:
            with torch.no_grad():  # shapes only: no autograd graph at start-up
                values = self.run(x, None, switches=False)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(
                f"{_class_name(model)}: fails on a 3x{size}x{size} input ({type(exc).__name__}: {_first_line(exc)}); "
                "give the input size it expects (--input-size)"
            ) from None
        self.sequences = {
            n for n, v in values.items() if isinstance(v, (tuple, list)) and v and isinstance(v[0], torch.Tensor)
        }
        return {n: tuple(v.shape) for n, v in values.items() if isinstance(v, torch.Tensor)}

    def _layers(self) -> list[Layer]:
        fields, axes = self._fields()
        out = []
        for node in list(self.gm.graph.nodes):
            kind = self.activation.get(node)
            shape = self.shapes.get(node)
            if kind is None or shape is None or len(shape) != 4 or node not in fields or node in self._inner:
                continue
            rows, cols = axes[node]
            if 0 in (rows, cols) or not isinstance(node.args[0], fx.Node):
                continue
            channel = ({1, 2, 3} - {rows, cols}).pop()
            selected = node if (rows, cols) == (2, 3) else self._channels_first(node, (0, channel, rows, cols))
            q = self.qualname[node]
            jump, lo, hi = fields[node]
            pooled = any(n in self.pools for n in _ancestors([node]))
            c, h, w = shape[channel], shape[rows], shape[cols]
            out.append(Layer(self.aliases.get(q, q), q, c, (h, w), jump, lo, hi, pooled, kind))
            self.by_name[q] = selected
        if any(n not in self._ops for n in self.gm.graph.nodes):
            self._compile()
        return out

    def _channels_first(self, node: fx.Node, dims: tuple[int, int, int, int]) -> fx.Node:
        """A twin of the activation `node` that reads its input permuted to [B, C, h, w] (and contiguous)."""
        graph = self.gm.graph
        source = node.args[0]
        assert isinstance(source, fx.Node)
        with graph.inserting_after(node):
            permuted = graph.call_function(torch.permute, (source, dims))
        with graph.inserting_after(permuted):
            dense = graph.call_method("contiguous", (permuted,))
        with graph.inserting_after(dense):
            twin = graph.create_node(node.op, node.target, (dense, *node.args[1:]), dict(node.kwargs))
        q = self.qualname[node]
        self.qualname |= {permuted: f"{q} (input, channels first)", dense: f"{q} (input, channels first)", twin: q}
        moved = tuple(self.shapes[node][d] for d in dims)
        self.shapes |= {permuted: moved, dense: moved, twin: moved}
        return twin

    def _fields(self) -> tuple[dict[fx.Node, tuple[int, int, int]], dict[fx.Node, tuple[int, int]]]:
        """(jump, lo, hi) of every node with spatial maps, and which axes of its value are rows and columns.

        Output index i reads input pixels i * jump + lo ... i * jump + hi. The axes follow permutes,
        transposes and reshapes that keep the map (a channels-last block, ShuffleNet's channel shuffle).
        """
        fields: dict[fx.Node, tuple[int, int, int]] = {self.input_node: (1, 0, 0)}
        axes: dict[fx.Node, tuple[int, int]] = {self.input_node: (2, 3)}
        whole = (0, 0, self.input_size - 1)  # every position reads the whole image
        for node in self.gm.graph.nodes:
            parents = [a for a in node.all_input_nodes if a in fields]
            if not parents or node.op == "placeholder":
                continue
            geometry = self._geometry(node)
            if isinstance(geometry, str):  # a global operation: the field is the whole image from here on
                self._whole_if_spatial(node, fields, axes, whole)
                continue
            if geometry is None:
                found = self._carried_axes(node, parents[0], axes[parents[0]])
                geometry = (1, 1, 0, 1)
            else:
                found = (2, 3) if axes[parents[0]] == (2, 3) else None
            if found is None:  # it moves positions in a way not worked out (an upsampling, say)
                self._whole_if_spatial(node, fields, axes, whole)
                continue
            if any(fields[p] == whole for p in parents):
                fields[node], axes[node] = whole, found
                continue
            jump = fields[parents[0]][0]
            lo = min(fields[p][1] for p in parents)
            hi = max(fields[p][2] for p in parents)
            if any(fields[p][0] != jump for p in parents):
                self._whole_if_spatial(node, fields, axes, whole)
                continue
            k, s, p, d = geometry
            fields[node] = (jump * s, lo - p * jump, hi + (d * (k - 1) - p) * jump)
            axes[node] = found
        return fields, axes

    def _whole_if_spatial(self, node: fx.Node, fields: dict, axes: dict, whole: tuple[int, int, int]) -> None:
        """A channels-first map of more than one position whose geometry is not worked out (after an adaptive
        pool to 5x5, an upsampling) reads the whole image: that field, never a wrong box. A 1x1 map (a
        squeeze-excitation's gate) scales its branch and stays out of the fields, as before."""
        shape = self.shapes.get(node)
        if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1:
            fields[node], axes[node] = whole, (2, 3)

    def _carried_axes(self, node: fx.Node, parent: fx.Node, parent_axes: tuple[int, int]) -> tuple[int, int] | None:
        """The row and column axes of `node`, computed pointwise from `parent`; None when it mixes positions."""
        if node in self.sequences or parent in self.sequences:  # chunk, split, and the getitem that picks a part
            return parent_axes
        shape, before = self.shapes.get(node), self.shapes.get(parent)
        if shape is None or before is None:
            return None
        rows, cols = parent_axes
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

    def _geometry(self, node: fx.Node) -> tuple[int, int, int, int] | str | None:
        """(kernel, stride, padding, dilation) along rows of a conv or pool; _GLOBAL for an adaptive pool; None otherwise."""
        if node.op == "call_module":
            m = self.gm.get_submodule(str(node.target))
            if isinstance(m, nn.Conv2d):
                return (_pair(m.kernel_size)[0], _pair(m.stride)[0], _pair(m.padding)[0], _pair(m.dilation)[0])
            if isinstance(m, nn.AvgPool2d):
                stride = m.stride if m.stride is not None else m.kernel_size
                return (_pair(m.kernel_size)[0], _pair(stride)[0], _pair(m.padding)[0], 1)
            if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                return _GLOBAL
        if node in self.pools:
            g = self.pools[node]
            return (g.kernel[0], g.stride[0], g.padding[0], g.dilation[0])
        if node.op == "call_function" and node.target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            return _GLOBAL
        if node.op == "call_function" and node.target in (F.avg_pool2d, torch._C._nn.avg_pool2d):
            names = ("input", "kernel_size", "stride", "padding")
            values = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
            k = values["kernel_size"]
            return (_pair(k)[0], _pair(values.get("stride") or k)[0], _pair(values.get("padding", 0))[0], 1)
        return None

    def layer(self, name: str) -> Layer:
        layer = self.layer_by_name.get(name)
        if layer is None:
            shown = ", ".join(lay.name for lay in self.layers[:12]) + (" ..." if len(self.layers) > 12 else "")
            raise OptionError(f"unknown layer {name!r}: choose one of {shown}")
        return layer

    def node_of(self, layer: str) -> fx.Node:
        return self.by_name[self.layer(layer).node]

    # -- running -------------------------------------------------------------------------------

    def run(self, x: torch.Tensor, targets: list[fx.Node] | None, switches: bool = True) -> dict[Any, Any]:
        """Values of every node needed for `targets` (all nodes when None); max-pools also keep their switches.

        Every operation runs out of place (see the module's docstring), so a recorded value is never
        overwritten. A pool's switches are stored under the key (node, "switches"); `switches=False`
        skips them (a forward pass that only reads maps, as a scan does, costs less without them).
        """
        needed = None if targets is None else _ancestors(targets)
        # Reading maps only (no switches, no autograd), a ReLU may overwrite the fresh output of the conv or
        # BatchNorm below it when nothing else reads that output: a pass over a batch then allocates and
        # writes one tensor less per layer.
        scratch = not switches and not torch.is_grad_enabled() and not _INPLACE_OFF and targets is not None
        env: dict[Any, Any] = {}
        for node, (op, fn, node_args, node_kwargs) in self._plan:
            if needed is not None and node not in needed:
                continue
            if op == _INPUT:
                env[node] = x
                continue
            if op == _OUTPUT:
                continue
            if op == _ATTR:
                env[node] = _fetch_attr(self.gm, str(node.target))
                continue
            args = fx.node.map_arg(node_args, env.__getitem__)
            kwargs = fx.node.map_arg(node_kwargs, env.__getitem__)
            if op == _RELU:
                fresh = scratch and node in self._scratchable and node.all_input_nodes[0] not in targets  # type: ignore[operator]
                env[node] = torch.relu_(args[0]) if fresh else torch.relu(args[0])
            elif op == _MAXPOOL and switches:
                g = self.pools[node]
                env[node], env[(node, "switches")] = F.max_pool2d(
                    args[0], g.kernel, g.stride, g.padding, g.dilation, g.ceil_mode, return_indices=True
                )
            elif op == _METHOD:
                env[node] = getattr(args[0], fn)(*args[1:], **kwargs)
            else:
                env[node] = fn(*args, **kwargs)
        return env

    def call(self, node: fx.Node, env: dict) -> Any:
        """`node` computed (out of place) from the values of its inputs in `env`."""
        op, fn, node_args, node_kwargs = self._ops[node]
        args = fx.node.map_arg(node_args, env.__getitem__)
        kwargs = fx.node.map_arg(node_kwargs, env.__getitem__)
        if op == _RELU:
            return torch.relu(args[0])
        if op == _METHOD:
            return getattr(args[0], fn)(*args[1:], **kwargs)
        return fn(*args, **kwargs)


_INPLACE_OFF = False  # True: every ReLU out of place (tests and measurements compare the two)


def _fetch_attr(gm: fx.GraphModule, target: str) -> object:
    obj: object = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _ancestors(targets: list[fx.Node]) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.all_input_nodes)
    return seen


def _descendants(start: fx.Node) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.users)
    return seen


def _class_name(model: nn.Module) -> str:
    """The user's class, not the explorer's normalising wrapper around it."""
    return type(getattr(model, "inner", model)).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


# torch.fx patches nn.Module.__call__ for the whole process while it traces: one trace at a time,
# and module calls from other threads (a scan, a prediction) pass through untouched.
_TRACING = threading.RLock()


class NodeNameTracer(fx.Tracer):
    """A torch.fx tracer that names every node as torchvision's `get_graph_node_names` does, without
    importing torchvision (its `feature_extraction` imports the whole package, and `torchvision.ops`
    imports `torch._dynamo`: about 2 s of start-up here). tests/core/test_node_names.py holds the names
    equal to torchvision's for every model family the explorer supports.

    The rule, torchvision's: a node's name is the dotted path of the module whose forward made it,
    then (unless the node calls a leaf module, whose name is its path) the fx node name; a trailing
    `_<n>` is dropped, and a name met before gets `_1`, `_2`, ...: one more than its latest use.
    torchvision also takes the modules of `torchvision.ops` (Conv2dNormActivation, SqueezeExcitation,
    ...) as leaves; this tracer goes through them, since the way down needs what they hold, but names
    only a call's output, by the module's path, and puts the nodes inside in `inner_names`.
    Module calls from threads other than the tracing one pass through untouched (fx patches
    nn.Module.__call__ for the whole process while it traces).
    """

    def __init__(self) -> None:
        super().__init__()
        self.node_to_qualname: dict[fx.Node, str] = {}
        self.inner_names: dict[fx.Node, str] = {}
        self._scope = ""
        self._inside = False
        self._thread: int | None = None

    def trace(self, root, concrete_args=None):  # type: ignore[override]
        self._thread = threading.get_ident()
        return super().trace(root, concrete_args)

    def call_module(self, m, forward, args, kwargs):  # type: ignore[override]
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        outer = self._scope
        self._scope = path = self.path_of_module(m)
        try:
            if self.is_leaf_module(m, path):
                return self.create_proxy("call_module", path, args, kwargs)
            if self._inside or not _named_as_leaf(m):
                return forward(*args, **kwargs)
            self._inside = True
            try:
                out = forward(*args, **kwargs)
            finally:
                self._inside = False
            if isinstance(out, fx.Proxy) and out.node in self.inner_names:
                del self.inner_names[out.node]
                self.node_to_qualname[out.node] = self._qualname(path)
            return out
        finally:
            self._scope = outer

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, *rest):  # type: ignore[override]
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, *rest)
        node = proxy.node
        name = self._scope if node.op == "call_module" else ".".join(p for p in (self._scope, node.name) if p)
        if self._inside:
            self.inner_names[node] = name
        else:
            self.node_to_qualname[node] = self._qualname(name)
        return proxy

    def _qualname(self, name: str) -> str:
        if _NUMBERED.match(name):
            name = name.rsplit("_", 1)[0]
        # The pattern is built from the name unescaped, as torchvision builds it, so that names agree
        # even where a dot in a path would match another character.
        repeat = re.compile(rf"{name}(_[0-9]+)?$")
        for earlier in reversed(self.node_to_qualname.values()):
            if repeat.match(earlier):
                suffix = earlier.replace(name, "")
                return f"{name}_{int(suffix[1:]) + 1 if suffix else 1}"
        return name


def _named_as_leaf(m: nn.Module) -> bool:
    """Whether torchvision's tracer takes `m` as a leaf: an instance of a module class that `torchvision.ops` exports.

    Such a model has imported torchvision.ops already; nothing is imported here.
    """
    ops = sys.modules.get("torchvision.ops")
    return ops is not None and isinstance(m, _exported_modules(ops))


@functools.cache
def _exported_modules(ops: types.ModuleType) -> tuple[type, ...]:
    return tuple(v for v in vars(ops).values() if isinstance(v, type) and issubclass(v, nn.Module))


_NUMBERED = re.compile(r".+_[0-9]+$")


def _tracer() -> NodeNameTracer:
    return NodeNameTracer()


_GRAPHS: weakref.WeakKeyDictionary[nn.Module, ModelGraph] = weakref.WeakKeyDictionary()


def model_graph(model: nn.Module) -> ModelGraph:
    """The traced graph of `model`, traced once per model object (nothing is stored on the model)."""
    graph = _GRAPHS.get(model)
    if graph is None:
        with _TRACING:
            graph = _GRAPHS.get(model)
            if graph is None:
                graph = ModelGraph(model)
                _GRAPHS[model] = graph
    return graph


def layers(model: nn.Module) -> list[Layer]:
    """The selectable layers of `model` in order: rectified spatial outputs, with sizes and receptive fields."""
    return list(model_graph(model).layers)
