"""The explorer's engine, free of Qt: the seed network, data, checkpoints, projections, training.

Public API (stable; scripts and notebooks use exactly this):
    SeedNet, load_model, project, activations, predict
and explorer.core.backprop.manual_gradients.
"""

from explorer.core.checkpoint import load_model
from explorer.core.model import CLASSES, LAYERS, SeedNet
from explorer.core.projection import activations, predict, project

__all__ = ["CLASSES", "LAYERS", "SeedNet", "activations", "load_model", "predict", "project"]
