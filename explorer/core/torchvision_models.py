"""torchvision's classifiers as their users have them: weights from the torch hub cache, the weights'
preprocessing and class names, and checkpoints of any head size.

Weights are read from `$TORCH_HOME/hub/checkpoints/<file name of the weights' URL>` (downloaded there
first when absent and a network is there) and loaded with `weights_only=True`, like every checkpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from explorer.core.checkpoint import check_state
from explorer.core.errors import ModelError

RANDOM = "random"  # --weights random: the architecture with freshly initialised weights


@dataclass(frozen=True)
class Recipe:
    """What a model's weights say about its input and output (torchvision's `weights.transforms()` and `meta`)."""

    crop: int
    resize: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: tuple[str, ...]
    weights: str  # the weights' enum name, or "random"


def classifier_names() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _weights_enum(name: str):
    import torchvision

    if name not in classifier_names():
        close = sorted(n for n in classifier_names() if n.startswith(name[:3]))[:8]
        raise ModelError(
            f"torchvision:{name}: no such torchvision classifier"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
        )
    return torchvision.models.get_model_weights(name)


def pick_weights(name: str, weights: str | None):
    """The weights enum member named `weights` (DEFAULT when None); ModelError listing the choices otherwise."""
    enum = _weights_enum(name)
    key = "DEFAULT" if weights in (None, RANDOM) else str(weights)
    try:
        return enum[key]
    except KeyError:
        choices = ", ".join([*(m for m in enum.__members__ if m != "DEFAULT"), "DEFAULT", RANDOM])
        raise ModelError(
            f"--weights {weights}: not a weight set of torchvision:{name} (choose from {choices})"
        ) from None


def recipe(weights: Any, label: str | None = None) -> Recipe:
    """The preprocessing and class names of a torchvision weights enum member."""
    t = weights.transforms()
    return Recipe(
        crop=int(t.crop_size[0]),
        resize=int(t.resize_size[0]),
        interpolation=str(t.interpolation.value),
        mean=tuple(float(v) for v in t.mean),  # type: ignore[arg-type]
        std=tuple(float(v) for v in t.std),  # type: ignore[arg-type]
        classes=tuple(str(c) for c in weights.meta["categories"]),
        weights=label or weights.name,
    )


def hub_file(weights: Any) -> str:
    """Where torchvision keeps (and looks for) the weights' file: the torch hub cache's checkpoints folder."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path))


def build(name: str, weights: Any, num_classes: int, *, aux: bool = False) -> nn.Module:
    """The architecture as torchvision builds it for `weights`, with freshly initialised parameters."""
    import torchvision

    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if name in ("inception_v3", "googlenet"):
        # As the builders do for their ImageNet weights: the input is re-normalised inside forward().
        kwargs.update(transform_input=True, aux_logits=aux, init_weights=False)
    return torchvision.models.get_model(name, weights=None, **kwargs)


def open_torchvision(
    name: str,
    checkpoint: str | os.PathLike[str] | None,
    num_classes: int | None,
    weights: str | None,
) -> tuple[nn.Module, Recipe, str | None]:
    """(model, recipe, the checkpoint's wrapping key) for `torchvision:NAME`.

    With a checkpoint, its last layer decides the number of classes (unless `num_classes` is given);
    without one, the weights named by `weights` (DEFAULT when None) are read from the torch hub cache.
    """
    from explorer.core.checkpoint import read_state_dict

    member = pick_weights(name, weights)
    rec = recipe(member, RANDOM if weights == RANDOM and checkpoint is None else None)
    if checkpoint is not None:
        state = read_state_dict(checkpoint)
        if name.startswith("densenet"):
            _rename_legacy_densenet_keys(state)
        n = num_classes or _head_size(name, member, state) or len(rec.classes)
        model = build(name, member, n, aux=_has_aux(name, state))
        check_state(model, state, os.fspath(checkpoint), f"torchvision:{name}")
        model.load_state_dict(state)
        classes = rec.classes if n == len(rec.classes) else tuple(f"class {i}" for i in range(n))
        return model, Recipe(**{**rec.__dict__, "classes": classes, "weights": "checkpoint"}), state.wrapped_in  # type: ignore[attr-defined]
    if weights == RANDOM:
        n = num_classes or len(rec.classes)
        model = build(name, member, n)
        classes = rec.classes if n == len(rec.classes) else tuple(f"class {i}" for i in range(n))
        return model, Recipe(**{**rec.__dict__, "classes": classes}), None
    if num_classes is not None and num_classes != len(rec.classes):
        raise ModelError(
            f"torchvision:{name}: --num-classes {num_classes} needs your own weights (--checkpoint) or --weights random; "
            f"the {member.name} weights have {len(rec.classes)} classes"
        )
    path = _fetch(name, member)
    state = read_state_dict(path)
    if name.startswith("densenet"):
        _rename_legacy_densenet_keys(state)
    model = build(name, member, len(rec.classes), aux=name in ("inception_v3", "googlenet"))
    check_state(model, state, path, f"torchvision:{name} {member.name}")
    model.load_state_dict(state)
    if name == "googlenet":  # torchvision drops the untrained auxiliary heads of its GoogLeNet weights
        model.aux_logits = False  # type: ignore[assignment]
        model.aux1 = None  # type: ignore[assignment]
        model.aux2 = None  # type: ignore[assignment]
    return model, rec, None


# torchvision's DenseNet weight files keep the old layer names `norm.1`, `conv.2`, ... (dots are no longer allowed
# in module names); its own loader renames them to `norm1`, `conv2` as it reads them, and so do we.
_LEGACY_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _rename_legacy_densenet_keys(state: dict) -> None:
    """Rename a DenseNet state dict's `denselayerN.norm.1.weight` keys to `denselayerN.norm1.weight`, in place."""
    for key in list(state):
        found = _LEGACY_DENSENET_KEY.match(key)
        if found:
            state[found.group(1) + found.group(2)] = state.pop(key)


def _fetch(name: str, member: Any) -> str:
    """The weights' file in the hub cache, downloaded there first when it is absent."""
    path = hub_file(member)
    if os.path.isfile(path):
        return path
    try:
        from torch.hub import HASH_REGEX, download_url_to_file

        os.makedirs(os.path.dirname(path), exist_ok=True)
        found = HASH_REGEX.search(os.path.basename(path))
        download_url_to_file(member.url, path, found.group(1) if found else None, progress=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"torchvision:{name}: the {member.name} weights are not in the torch hub cache (looked for {path}) "
            f"and could not be downloaded ({reason}); put the file there, give your own with --checkpoint FILE, "
            "or look at the architecture with --weights random"
        ) from None
    return path


def _head_size(name: str, member: Any, state: Mapping[str, torch.Tensor]) -> int | None:
    """The class count of a checkpoint: the first dimension of the final layer's weight, found by
    building the architecture and taking its last Linear (or SqueezeNet's last conv)."""
    with torch.device("meta"):  # the module tree only: no memory, no initialisation
        model = build(name, member, len(member.meta["categories"]), aux=_has_aux(name, state))
    last = None
    for module_name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)) and not module_name.startswith(("aux", "AuxLogits")):
            last = module_name
    weight = state.get(f"{last}.weight") if last is not None else None
    return int(weight.shape[0]) if weight is not None and weight.dim() >= 2 else None


def _has_aux(name: str, state: Mapping[str, torch.Tensor]) -> bool:
    prefix = {"inception_v3": "AuxLogits.", "googlenet": "aux1."}.get(name)
    return prefix is not None and any(k.startswith(prefix) for k in state)
