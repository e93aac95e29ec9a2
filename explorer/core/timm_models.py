"""timm's models (an optional extra): the architecture, its weights, and its data config as preprocessing."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from torch import nn

from explorer.core.checkpoint import check_state
from explorer.core.errors import ModelError
from explorer.core.torchvision_models import RANDOM, Recipe


def open_timm(
    name: str, checkpoint: str | os.PathLike[str] | None, num_classes: int | None, weights: str | None
) -> tuple[nn.Module, Recipe, str | None]:
    """(model, recipe, the checkpoint's wrapping key) for `timm:NAME[.TAG]`; `weights` is `random` or None (pretrained)."""
    try:
        import timm
        from timm.data import resolve_model_data_config
    except ImportError:
        raise ModelError(
            f"timm:{name}: timm is not installed (pip install 'cnn-feature-explorer[timm]' or pip install timm)"
        ) from None
    if weights not in (None, RANDOM):
        raise ModelError(f"--weights {weights}: timm models take their weights from the name (timm:NAME.TAG) or random")
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('.')[0][:6]}*")[:8]
        raise ModelError(f"timm:{name}: no such timm model" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    wrapped_in = None
    state = None
    if checkpoint is not None:
        from explorer.core.checkpoint import read_state_dict

        state = read_state_dict(checkpoint)
        wrapped_in = getattr(state, "wrapped_in", None)
        if num_classes is None:
            num_classes = _head_size(timm, name, state)
    pretrained = checkpoint is None and weights is None
    kwargs: dict[str, Any] = {"num_classes": num_classes} if num_classes is not None else {}
    try:
        model = _create(timm, name, pretrained, kwargs)
    except ModelError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "; give your own with --checkpoint FILE, or --weights random" if pretrained else ""
        raise ModelError(f"timm:{name}: cannot build it ({type(exc).__name__}: {reason}){hint}") from None
    if state is not None:
        check_state(model, state, os.fspath(checkpoint), f"timm:{name}")  # type: ignore[arg-type]
        model.load_state_dict(state)
    cfg = resolve_model_data_config(model)
    crop = int(cfg["input_size"][-1])
    resize = max(crop, math.floor(crop / float(cfg.get("crop_pct") or 1.0)))  # as timm's eval transform scales
    interpolation = cfg.get("interpolation", "bilinear")
    if interpolation not in ("nearest", "bilinear", "bicubic"):
        interpolation = "bicubic"
    label = RANDOM if weights == RANDOM else "checkpoint" if checkpoint is not None else "pretrained"
    return (
        model,
        Recipe(
            crop=crop,
            resize=resize,
            interpolation=interpolation,
            mean=tuple(float(v) for v in cfg["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in cfg["std"]),  # type: ignore[arg-type]
            classes=_classes(model),
            weights=label,
        ),
        wrapped_in,
    )


def _classes(model: nn.Module) -> tuple[str, ...]:
    n = int(getattr(model, "num_classes", 0) or 0)
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(model)
        if subset:
            info = ImageNetInfo(subset)
            if len(info.label_names()) == n:
                return tuple(info.index_to_description(i) for i in range(n))
    except Exception:  # names are a nicety: numbered classes when timm cannot tell
        pass
    return tuple(f"class {i}" for i in range(n))


def _head_size(timm, name: str, state) -> int | None:
    """The class count of a checkpoint, read from the weight of the model's classifier (timm names it)."""
    import torch

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    classifier = model.pretrained_cfg.get("classifier")
    names = classifier if isinstance(classifier, (list, tuple)) else [classifier]
    for head in names:
        weight = state.get(f"{head}.weight") if head else None
        if weight is not None and weight.dim() >= 2:
            return int(weight.shape[0])
    return None


def _create(timm: Any, name: str, pretrained: bool, kwargs: dict[str, Any]) -> nn.Module:
    """timm.create_model; pretrained weights from the Hugging Face cache first, and from the Hub only when it
    can be reached (offline, the Hub client retries for most of a minute and logs each try)."""
    if not pretrained:
        return timm.create_model(name, pretrained=False, **kwargs)
    with _hub_offline():
        try:
            return timm.create_model(name, pretrained=True, **kwargs)
        except Exception:
            pass  # not in the cache (or an older client that ignores the offline switch): try the Hub
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as exc:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise ModelError(
            f"timm:{name}: the pretrained weights are not in the Hugging Face cache ({HF_HUB_CACHE}) and {host} "
            f"cannot be reached ({exc.strerror or type(exc).__name__}); give your own with --checkpoint FILE, "
            "or look at the architecture with --weights random"
        ) from None
    quiet = logging.getLogger("huggingface_hub")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    finally:
        quiet.setLevel(level)


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before
