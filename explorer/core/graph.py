"""Any CNN as a traced graph: its selectable layers, their sizes and receptive fields, and a recorded forward pass.

A model is traced once with torch.fx (`NodeNameTracer`), and layer names are the node names of
`torchvision.models.feature_extraction.get_graph_node_names` in eval mode: `features.4`
in a VGG, `layer2.0.relu_1` for the output of ResNet's block `layer2.0`. The selectable layers are
the rectified (ReLU) outputs with spatial maps, as Zeiler & Fergus project; a model may rename
them with a class attribute `layer_aliases` (SeedNet's `relu1` is `conv1`).
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.errors import ModelError
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

    @property
    def field(self) -> int:
        return self.hi - self.lo + 1


RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_)


def is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), nn.ReLU)
    if node.op == "call_function":
        return node.target in RELU_FUNCTIONS
    return node.op == "call_method" and node.target in ("relu", "relu_")


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
        self.by_name = {q: n for n, q in self.qualname.items()}
        self.input_node = next(n for n in graph.nodes if n.op == "placeholder")
        self.dependent = _descendants(self.input_node)
        self.aliases = dict(getattr(model, "layer_aliases", {}) or {})
        self.input_size = info.input_size
        self.shapes = self._shapes(model, info.input_size)
        self.layers = self._layers()
        self.layer_by_name = {layer.name: layer for layer in self.layers}

    # -- structure ---------------------------------------------------------------------------

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
        return {n: tuple(v.shape) for n, v in values.items() if isinstance(v, torch.Tensor)}

    def _layers(self) -> list[Layer]:
        fields = self._fields()
        out = []
        for node in self.gm.graph.nodes:
            shape = self.shapes.get(node)
            if shape is None or len(shape) != 4 or not is_relu(self.gm, node) or node not in fields:
                continue
            q = self.qualname[node]
            jump, lo, hi = fields[node]
            pooled = any(is_maxpool(self.gm, n) for n in _ancestors([node]))
            out.append(Layer(self.aliases.get(q, q), q, shape[1], (shape[2], shape[3]), jump, lo, hi, pooled))
        return out

    def _fields(self) -> dict[fx.Node, tuple[int, int, int]]:
        """(jump, lo, hi) of every spatial node: output index i reads input pixels i * jump + lo ... i * jump + hi."""
        fields: dict[fx.Node, tuple[int, int, int]] = {self.input_node: (1, 0, 0)}
        for node in self.gm.graph.nodes:
            parents = [a for a in node.all_input_nodes if a in fields]
            if not parents or node.op == "placeholder":
                continue
            geometry = self._geometry(node)
            if geometry is None:  # a global operation: the field is the whole image from here on
                continue
            jump = fields[parents[0]][0]
            lo = min(fields[p][1] for p in parents)
            hi = max(fields[p][2] for p in parents)
            if any(fields[p][0] != jump for p in parents):
                continue
            k, s, p, d = geometry
            fields[node] = (jump * s, lo - p * jump, hi + (d * (k - 1) - p) * jump)
        return fields

    def _geometry(self, node: fx.Node) -> tuple[int, int, int, int] | None:
        """(kernel, stride, padding, dilation) along rows of a spatial op; (1, 1, 0, 1) for a pointwise one; None for global ops."""
        shape = self.shapes.get(node)
        if shape is None or len(shape) != 4:
            return None
        if node.op == "call_module":
            m = self.gm.get_submodule(str(node.target))
            if isinstance(m, nn.Conv2d):
                return (_pair(m.kernel_size)[0], _pair(m.stride)[0], _pair(m.padding)[0], _pair(m.dilation)[0])
            if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
                d = _pair(getattr(m, "dilation", 1))[0]
                stride = m.stride if m.stride is not None else m.kernel_size
                return (_pair(m.kernel_size)[0], _pair(stride)[0], _pair(m.padding)[0], d)
            if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                return None
        if is_maxpool(self.gm, node):
            g = pool_geometry(self.gm, node)
            return (g.kernel[0], g.stride[0], g.padding[0], g.dilation[0])
        if node.op == "call_function" and node.target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.avg_pool2d):
            return None
        return (1, 1, 0, 1)

    def layer(self, name: str) -> Layer:
        layer = self.layer_by_name.get(name)
        if layer is None:
            shown = ", ".join(lay.name for lay in self.layers[:12]) + (" ..." if len(self.layers) > 12 else "")
            raise ValueError(f"unknown layer {name!r}: choose one of {shown}")
        return layer

    def node_of(self, layer: str) -> fx.Node:
        return self.by_name[self.layer(layer).node]

    # -- running -------------------------------------------------------------------------------

    def run(self, x: torch.Tensor, targets: list[fx.Node] | None, switches: bool = True) -> dict[Any, Any]:
        """Values of every node needed for `targets` (all nodes when None); max-pools also keep their switches.

        ReLUs run out of place, so a module built with `inplace=True` keeps its input for the way down.
        A pool's switches are stored under the key (node, "switches"); `switches=False` skips them (a
        forward pass that only reads maps, as a scan does, costs less without them).
        """
        needed = None if targets is None else _ancestors(targets)
        # Reading maps only (no switches, no autograd), a ReLU may overwrite the fresh output of the conv or
        # BatchNorm below it when nothing else reads that output: a pass over a batch then allocates and
        # writes one tensor less per layer.
        scratch = not switches and not torch.is_grad_enabled() and not _INPLACE_OFF
        env: dict[Any, Any] = {}
        for node in self.gm.graph.nodes:
            if needed is not None and node not in needed:
                continue
            if node.op == "placeholder":
                env[node] = x
                continue
            if node.op == "output":
                continue
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            if is_relu(self.gm, node):
                src = node.all_input_nodes[0] if node.all_input_nodes else None
                fresh = scratch and src is not None and len(src.users) == 1 and self._fresh_output(src, targets)
                env[node] = torch.relu_(args[0]) if fresh else torch.relu(args[0])
            elif switches and is_maxpool(self.gm, node):
                g = pool_geometry(self.gm, node)
                env[node], env[(node, "switches")] = F.max_pool2d(
                    args[0], g.kernel, g.stride, g.padding, g.dilation, g.ceil_mode, return_indices=True
                )
            elif node.op == "get_attr":
                env[node] = _fetch_attr(self.gm, str(node.target))
            elif node.op == "call_module":
                env[node] = self.gm.get_submodule(str(node.target))(*args, **kwargs)
            elif node.op == "call_function":
                env[node] = node.target(*args, **kwargs)  # type: ignore[operator]
            elif node.op == "call_method":
                self_obj, *rest = args
                env[node] = getattr(self_obj, str(node.target))(*rest, **kwargs)
        return env

    def _fresh_output(self, node: fx.Node, targets: list[fx.Node] | None) -> bool:
        """Whether `node` makes a new tensor (a conv's or eval BatchNorm's output) that no caller asked for."""
        if node.op != "call_module" or targets is None or node in targets:
            return False
        return isinstance(self.gm.get_submodule(str(node.target)), (nn.Conv2d, nn.BatchNorm2d))


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
    Module calls from threads other than the tracing one pass through untouched (fx patches
    nn.Module.__call__ for the whole process while it traces).
    """

    def __init__(self) -> None:
        super().__init__()
        self.node_to_qualname: dict[fx.Node, str] = {}
        self._scope = ""
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
            return forward(*args, **kwargs)
        finally:
            self._scope = outer

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, *rest):  # type: ignore[override]
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, *rest)
        self.node_to_qualname[proxy.node] = self._qualname(proxy.node)
        return proxy

    def _qualname(self, node: fx.Node) -> str:
        name = self._scope if node.op == "call_module" else ".".join(p for p in (self._scope, node.name) if p)
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
