"""A request's layer looked up in the model, or an AnalysisError that names it."""

from __future__ import annotations

from torch import nn

from explorer.analyses.errors import AnalysisError
from explorer.core.graph import Layer, model_graph


def layer_of(model: nn.Module, layer: str) -> Layer:
    """The model's layer named `layer`; AnalysisError "layer 'NAME': choose one of ..." otherwise."""
    try:
        return model_graph(model).layer(layer)
    except ValueError as exc:
        raise AnalysisError(f"layer {str(exc).removeprefix('unknown layer ')}") from None


def layer_channels(model: nn.Module, layer: str) -> int:
    """The number of features of `layer`; AnalysisError with the graph's own message otherwise."""
    try:
        return model_graph(model).layer(layer).channels
    except ValueError as exc:
        raise AnalysisError(str(exc)) from None
