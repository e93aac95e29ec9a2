"""The explorer's engine, free of Qt: models, data, checkpoints, projections, training.

Public API (stable; scripts and notebooks use exactly this):
    load_model, layers, project, activations, predict, maximize, SeedNet,
    occlusion, evolution, invariance (Zeiler & Fergus's other experiments)
and explorer.core.backprop.manual_gradients. Every function takes any model that
`load_model` opens (or any nn.Module that torch.fx traces).
"""

from explorer.core.feature_evolution import evolution
from explorer.core.graph import Layer, layers
from explorer.core.invariance_curves import invariance
from explorer.core.loading import load_model
from explorer.core.model import CLASSES, LAYERS, SeedNet
from explorer.core.occlusion_sensitivity import occlusion
from explorer.core.projection import activations, layer_outputs, predict, project
from explorer.core.synthesis import maximize

__all__ = [
    "CLASSES",
    "LAYERS",
    "Layer",
    "SeedNet",
    "activations",
    "evolution",
    "invariance",
    "layer_outputs",
    "layers",
    "load_model",
    "maximize",
    "occlusion",
    "predict",
    "project",
]
