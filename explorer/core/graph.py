"""Any CNN as a traced graph: its selectable layers, their sizes and receptive fields, and a recorded forward pass.

A model is traced once with torch.fx (`NodeNameTracer`, `explorer.core.node_names`), and layer
names are the node names of `torchvision.models.feature_extraction.get_graph_node_names` in eval
mode: `features.4` in a VGG, `layer2.0.relu_1` for the output of ResNet's block `layer2.0`. The
selectable layers are the outputs of elementwise activations (ReLU and its variants, GELU, SiLU,
Hardswish, ...: `explorer.core.activation_kinds`) with spatial maps and no global operation (an
adaptive pool) below them; a model may rename them with a class attribute `layer_aliases`
(SeedNet's `relu1` is `conv1`).

Two rewrites of the traced graph keep the recorded pass true to the model. An in-place operation
runs out of place, and the nodes after it that read the tensor it overwrote read its result
instead, so every recorded value is the one its readers saw. An activation that runs
channels-last (ConvNeXt's GELU between a permute and a Linear) gets a channels-first twin, the
same activation of its permuted input: that twin, [B, C, h, w] like every other layer, is what
the layer's name selects.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.activation_kinds import RECTIFIERS, activation_kind
from explorer.core.errors import ModelError, OptionError
from explorer.core.field_geometry import PoolGeometry, is_maxpool, pool_geometry, receptive_fields
from explorer.core.in_place import out_of_place
from explorer.core.model_meta import model_info
from explorer.core.node_names import NodeNameTracer


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
    fill: bool = True  # every max-pool below it is non-overlapping, so the deconvnet may unpool by fill

    @property
    def field(self) -> int:
        return self.hi - self.lo + 1


# How `ModelGraph.run` computes a node.
_INPUT, _OUTPUT, _ATTR, _RELU, _MAXPOOL, _CALL, _METHOD = range(7)


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
        self._drops: dict[tuple[tuple[fx.Node, ...], frozenset[fx.Node]], dict[fx.Node, list[fx.Node]]] = {}

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
        fields, axes = receptive_fields(
            self.gm, self.input_node, self.input_size, self.shapes, self.sequences, self.pools
        )
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
            below = [n for n in _ancestors([node]) if n in self.pools]
            fill = all(self.pools[n].non_overlapping for n in below)
            c, h, w = shape[channel], shape[rows], shape[cols]
            out.append(Layer(self.aliases.get(q, q), q, c, (h, w), jump, lo, hi, bool(below), kind, fill))
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

    def layer(self, name: str) -> Layer:
        layer = self.layer_by_name.get(name)
        if layer is None:
            shown = ", ".join(lay.name for lay in self.layers[:12]) + (" ..." if len(self.layers) > 12 else "")
            raise OptionError(f"unknown layer {name!r}: choose one of {shown}")
        return layer

    def node_of(self, layer: str) -> fx.Node:
        return self.by_name[self.layer(layer).node]

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        x: torch.Tensor,
        targets: list[fx.Node] | None,
        switches: bool = True,
        stop: Callable[[], None] | None = None,
        *,
        overwrite: bool | None = None,
        targets_only: bool = False,
        keep: frozenset[fx.Node] = frozenset(),
    ) -> dict[Any, Any]:
        """Values of every node needed for `targets` (all nodes when None); max-pools also keep their switches.
        `stop` is called before each node (it raises to stop the pass: a window's job stops between layers).
        `overwrite`: whether a ReLU may overwrite its conv's or BatchNorm's fresh output (below); by default only
        a maps-only pass does. A projection's way down reads the ReLUs' outputs and the pools' switches, never a
        conv's output, so its forward pass overwrites too (VGG-16 at 224 px: 11 ms of out-of-place ReLUs a pass).

        Every operation runs out of place (see the module's docstring), so a recorded value is never
        overwritten. A pool's switches are stored under the key (node, "switches"); `switches=False`
        skips them (a forward pass that only reads maps, as a scan does, costs less without them).
        `targets_only`: the caller reads the targets' values and nothing else, so every other value is dropped
        after its last reader (a scan's batch then holds a few maps at a time, not all of them); `keep` names
        other values the caller reads.
        """
        needed = None if targets is None else _ancestors(targets)
        # Reading maps only (no switches, no autograd), or asked to, a ReLU may overwrite the fresh output of the
        # conv or BatchNorm below it when nothing else reads that output: a pass over a batch then allocates and
        # writes one tensor less per layer.
        may = (not switches) if overwrite is None else overwrite
        scratch = may and not torch.is_grad_enabled() and not _INPLACE_OFF and targets is not None
        env: dict[Any, Any] = {}
        last_reader = self._last_readers(tuple(targets), keep) if targets_only and targets is not None else {}
        for node, (op, fn, node_args, node_kwargs) in self._plan:
            if needed is not None and node not in needed:
                continue
            if op == _INPUT:
                env[node] = x
                continue
            if op == _OUTPUT:
                continue
            if stop is not None:
                stop()
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
            for done in last_reader.get(node, ()):
                env.pop(done, None)
        return env

    def _last_readers(self, targets: tuple[fx.Node, ...], keep: frozenset[fx.Node]) -> dict[fx.Node, list[fx.Node]]:
        """For a pass to `targets`: after each node, the values (not targets, not kept) that no later node reads."""
        found = self._drops.get((targets, keep))
        if found is None:
            needed = _ancestors(list(targets))
            last: dict[fx.Node, fx.Node] = {}
            for node, _op in self._plan:
                if node in needed:
                    for source in node.all_input_nodes:
                        last[source] = node
            found = {}
            for source, reader in last.items():
                if source not in targets and source not in keep:
                    found.setdefault(reader, []).append(source)
            self._drops[(targets, keep)] = found
        return found

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


def require_layers(model: nn.Module, name: str) -> list[Layer]:
    """`layers(model)`, or a ModelError naming `name` when it has none: nothing of it could be shown."""
    found = layers(model)
    if not found:
        raise ModelError(
            f"{name}: no layer the explorer can show (no elementwise activation with spatial maps, such as a ReLU "
            "after a convolution); it shows convolutional networks, and a vision transformer's tokens are no maps"
        )
    return found
