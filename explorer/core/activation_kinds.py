"""Which elementwise activations the explorer knows, by the name it shows for them, and which of them rectify.

The outputs of these activations are a model's selectable layers (`explorer.core.graph`); the
rectifiers among them are where deconvnet and guided backprop rectify the signal on the way down.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

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
    nn.RReLU: "RReLU",
    nn.Sigmoid: "Sigmoid",
    nn.Hardsigmoid: "Hardsigmoid",
    nn.LogSigmoid: "LogSigmoid",
    nn.Softsign: "Softsign",
    nn.Threshold: "Threshold",
    nn.Tanhshrink: "Tanhshrink",
    nn.Softshrink: "Softshrink",
    nn.Hardshrink: "Hardshrink",
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
    F.rrelu: "RReLU",
    F.rrelu_: "RReLU",
    torch.rrelu: "RReLU",
    torch.rrelu_: "RReLU",
    torch.sigmoid: "Sigmoid",
    torch.sigmoid_: "Sigmoid",
    F.sigmoid: "Sigmoid",
    F.hardsigmoid: "Hardsigmoid",
    F.logsigmoid: "LogSigmoid",
    F.softsign: "Softsign",
    F.threshold: "Threshold",
    torch.threshold_: "Threshold",
    F.tanhshrink: "Tanhshrink",
    F.softshrink: "Softshrink",
    F.hardshrink: "Hardshrink",
}
ACTIVATION_METHODS = {
    "relu": "ReLU",
    "relu_": "ReLU",
    "tanh": "Tanh",
    "tanh_": "Tanh",
    "sigmoid": "Sigmoid",
    "sigmoid_": "Sigmoid",
}

# Activations that pass positive inputs unchanged and cut (or scale down) negative ones: deconvnet and
# guided backprop rectify the signal at them (explorer.core.descent); every other activation passes it by its gradient.
RECTIFIERS = frozenset({"ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU"})  # RReLU: a LeakyReLU in eval

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
