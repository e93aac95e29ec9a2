"""In-place operations and their out-of-place forms, so that a recorded forward pass never overwrites a value it keeps."""

from __future__ import annotations

import copy
import inspect
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx

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
