"""The explorer's engine, free of Qt: models, data, checkpoints, projections, training.

Public API (stable; scripts and notebooks use exactly this):
    load_model, model_info, preprocess, layers, project, activations, predict, maximize, SeedNet,
    occlusion, evolution, invariance (Zeiler & Fergus's other experiments),
    cam, upsample_cam (class activation maps), sanity, random_label_check, deletion_insertion (checks of saliency)
and explorer.core.backprop.manual_gradients. Every function takes any model that
`load_model` opens (or any nn.Module that torch.fx traces).

The names are imported on first use (PEP 562): importing a light module of the package (`explorer.core.errors`,
as the command line and the window's first paint do) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from explorer.core.class_activation import cam, upsample_cam
    from explorer.core.feature_evolution import evolution
    from explorer.core.graph import Layer, layers
    from explorer.core.invariance_curves import invariance
    from explorer.core.loading import load_model
    from explorer.core.model import CLASSES, LAYERS, SeedNet
    from explorer.core.model_meta import ModelInfo, model_info
    from explorer.core.occlusion_sensitivity import occlusion
    from explorer.core.preprocessing import Preprocessing, preprocess
    from explorer.core.projection import activations, layer_outputs, predict, project
    from explorer.core.rise_curves import deletion_insertion
    from explorer.core.sanity_checks import random_label_check, sanity
    from explorer.core.synthesis import maximize

_HOMES = {
    "CLASSES": "explorer.core.model",
    "LAYERS": "explorer.core.model",
    "SeedNet": "explorer.core.model",
    "Layer": "explorer.core.graph",
    "layers": "explorer.core.graph",
    "activations": "explorer.core.projection",
    "layer_outputs": "explorer.core.projection",
    "predict": "explorer.core.projection",
    "project": "explorer.core.projection",
    "evolution": "explorer.core.feature_evolution",
    "invariance": "explorer.core.invariance_curves",
    "load_model": "explorer.core.loading",
    "ModelInfo": "explorer.core.model_meta",
    "model_info": "explorer.core.model_meta",
    "Preprocessing": "explorer.core.preprocessing",
    "preprocess": "explorer.core.preprocessing",
    "occlusion": "explorer.core.occlusion_sensitivity",
    "maximize": "explorer.core.synthesis",
    "cam": "explorer.core.class_activation",
    "upsample_cam": "explorer.core.class_activation",
    "sanity": "explorer.core.sanity_checks",
    "random_label_check": "explorer.core.sanity_checks",
    "deletion_insertion": "explorer.core.rise_curves",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'explorer.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "CLASSES",
    "LAYERS",
    "Layer",
    "ModelInfo",
    "Preprocessing",
    "SeedNet",
    "activations",
    "cam",
    "deletion_insertion",
    "evolution",
    "invariance",
    "layer_outputs",
    "layers",
    "load_model",
    "maximize",
    "model_info",
    "occlusion",
    "predict",
    "preprocess",
    "project",
    "random_label_check",
    "sanity",
    "upsample_cam",
]
