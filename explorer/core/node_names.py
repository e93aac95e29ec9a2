"""Naming traced nodes as torchvision's `get_graph_node_names` does, without importing torchvision."""

from __future__ import annotations

import functools
import re
import sys
import threading
import types

from torch import fx, nn


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
