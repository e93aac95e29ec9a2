"""Opening any model: the bundled ones, torchvision and timm architectures, a user's class from a file or a
module (explorer.core.user_module), a model card (explorer.core.model_card).

A spec is `seednet`, `zfnet-cifar`, `torchvision:NAME`, `timm:NAME`, `FILE.py:CLASS`,
`package.module:CLASS` or `CARD.toml` (a model card holding the same settings). Weights come from a
state dict, always read with `weights_only=True`. The model comes back in eval mode with an
`explorer_info` (ModelInfo): its input size and preprocessing, normalisation and class names.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

import torch
from torch import fx, nn

from explorer.core.checkpoint import check_state
from explorer.core.errors import ModelError
from explorer.core.model_card import check_finite, naming_card, read_card
from explorer.core.model_meta import ModelInfo, default_classes, model_info
from explorer.core.paths import open_regular
from explorer.core.user_module import user_class
from explorer.core.zoo import BUNDLED_ARCHITECTURES, build_bundled


def bundled_file(name: str) -> Path:
    """A file shipped in the `explorer.weights` package (works from a wheel as from a checkout)."""
    return Path(str(resources.files("explorer.weights").joinpath(name)))


def bundled_weights(arch: str) -> Path:
    return bundled_file(f"{arch}.pt")


def bundled_snapshots(arch: str) -> Path:
    return bundled_file(f"{arch}.snapshots.pt")


class Normalized(nn.Module):
    """A model that expects normalised input, fed [0, 1] RGB: (x - mean) / std first. Layer names are the inner model's."""

    node_prefix = "inner."

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, inner: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.layer_aliases = dict(getattr(inner, "layer_aliases", {}) or {})
        self.input_size = getattr(inner, "input_size", 224)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner((x - self.mean) / self.std)


def load_model(
    spec: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    *,
    num_classes: int | None = None,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    weights: str | None = None,
    resize: int | None = None,
    interpolation: str | None = None,
    classes: Sequence[str] | str | os.PathLike[str] | None = None,
) -> nn.Module:
    """A model in eval mode on `device`, checked to trace and to run at its input size.

    `load_model()` is the bundled SeedNet and `load_model("zfnet-cifar")` the bundled five-layer
    model. As before, `load_model(PATH)` with a checkpoint file loads SeedNet weights from it.
    `weights` picks a torchvision weight set (`IMAGENET1K_V1`, ...; `random` for fresh weights);
    `input_size` (the crop), `resize` and `interpolation` override the preprocessing; `classes` is a
    list of names or a file with one name a line.
    """
    spec_text = "seednet" if spec is None else os.fspath(spec)
    if checkpoint is None and _looks_like_checkpoint(spec_text):
        spec_text, checkpoint = "seednet", spec_text
    if not spec_text.endswith(".toml"):
        return _load(spec_text, checkpoint, device, num_classes, input_size, mean, std, weights, resize,
                     interpolation, classes, {})  # fmt: skip
    card_path = spec_text
    card = read_card(card_path)
    given = {"checkpoint": checkpoint, "weights": weights, "num_classes": num_classes, "input_size": input_size,
             "resize": resize, "interpolation": interpolation, "mean": mean, "std": std, "classes": classes}  # fmt: skip
    with naming_card(card_path, card, given):
        return _load(
            card["model"],
            checkpoint if checkpoint is not None else card.get("checkpoint"),
            device,
            num_classes if num_classes is not None else card.get("num_classes"),
            input_size if input_size is not None else card.get("input_size", card.get("crop")),
            mean if mean is not None else card.get("mean"),
            std if std is not None else card.get("std"),
            weights if weights is not None else card.get("weights"),
            resize if resize is not None else card.get("resize"),
            interpolation if interpolation is not None else card.get("interpolation"),
            classes if classes is not None else card.get("classes", card.get("classes_file")),
            card,
        )


MEAN_BOUND = (-100.0, 100.0)  # of the normalisation: pixels are in [0, 1]
STD_BOUND = (1e-4, 1e4)


def _load(spec_text, checkpoint, device, num_classes, input_size, mean, std, weights, resize, interpolation,
          classes, card: dict) -> nn.Module:  # fmt: skip
    """load_model once a card's settings are merged with the caller's."""
    if weights is not None and not spec_text.startswith(("torchvision:", "timm:")):
        raise ModelError(f"--weights {weights}: only torchvision:NAME and timm:NAME models have weight sets")
    model, info = _build(spec_text, checkpoint, num_classes, weights)
    if (mean is None) != (std is None):
        raise ModelError("--mean and --std go together: give both or neither")
    if mean is None and info.mean is not None:
        mean, std = info.mean, info.std
        info = replace(info, mean=None, std=None)
    if mean is not None and std is not None:
        _check_triple("mean", mean)
        _check_triple("std", std)
        check_finite("mean", mean)
        check_finite("std", std)
        if any(float(s) <= 0 for s in std):
            raise ModelError(f"std {tuple(std)}: every value must be positive")
        # Finite is not enough: a mean of 1e308 or a std of 1e-320 overflows the first layer to inf and NaN. Any
        # real normalisation fits these bounds (pixels in [0, 1]; a 0-255 model's std is 1/255 of its own).
        if any(not MEAN_BOUND[0] <= float(m) <= MEAN_BOUND[1] for m in mean):
            raise ModelError(f"mean {tuple(mean)}: every value must be between {MEAN_BOUND[0]:g} and {MEAN_BOUND[1]:g}")
        if any(not STD_BOUND[0] <= float(s) <= STD_BOUND[1] for s in std):
            raise ModelError(f"std {tuple(std)}: every value must be between {STD_BOUND[0]:g} and {STD_BOUND[1]:g}")
        model = Normalized(model, [float(m) for m in mean], [float(s) for s in std])
        info = replace(info, mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))  # type: ignore[arg-type]
    info = _with_preprocessing(info, input_size, resize, interpolation)
    if classes is not None:
        info = replace(info, classes=_class_names(classes, len(info.classes)))
    if card.get("name"):
        info = replace(info, name=str(card["name"]))
    model.explorer_info = info  # type: ignore[assignment]
    model = model.to(device).eval()
    outputs = _check_runs(model, info)
    if outputs != len(info.classes):
        if classes is not None:
            where = os.fspath(classes) if isinstance(classes, (str, os.PathLike)) else "classes"
            raise ModelError(f"{where}: {len(info.classes)} class names, but {info.name} returns {outputs} classes")
        model.explorer_info = replace(info, classes=default_classes(outputs))  # type: ignore[assignment]
    return model


def _with_preprocessing(info: ModelInfo, crop: int | None, resize: int | None, interpolation: str | None) -> ModelInfo:
    """`info` with the input size (crop), resize and interpolation a user gave, each checked."""
    from explorer.core.preprocessing import INTERPOLATIONS

    for flag, value in (("input size", crop), ("resize", resize)):
        if value is not None and not 8 <= int(value) <= 1024:
            raise ModelError(f"{flag} {value}: must be between 8 and 1024 pixels")
    if interpolation is not None and interpolation not in INTERPOLATIONS:
        raise ModelError(f"interpolation {interpolation!r}: choose one of {', '.join(INTERPOLATIONS)}")
    new_crop = int(crop) if crop is not None else info.input_size
    # A new crop alone keeps the weights' ratio of resize to crop (232/224 for ResNet-50's V2 weights).
    new_resize = int(resize) if resize is not None else round(info.resize * new_crop / info.input_size)
    if new_resize < new_crop:
        raise ModelError(f"resize {new_resize}: must be at least the input size (crop) {new_crop}")
    return replace(info, input_size=new_crop, resize=new_resize, interpolation=interpolation or info.interpolation)


def _class_names(classes: Sequence[str] | str | os.PathLike[str], count: int) -> tuple[str, ...]:
    """Names from a list, or from a file with one name a line; there must be one per output of the model."""
    if isinstance(classes, (str, os.PathLike)):
        path = os.fspath(classes)
        try:
            with open_regular(path, "a file of class names", ModelError, encoding="utf-8") as fh:
                names = [line.strip() for line in fh if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: cannot read the class names ({getattr(exc, 'strerror', None) or exc})") from None
        where = path
    else:
        names = [str(c) for c in classes]
        where = "classes"
    if len(names) != count:
        raise ModelError(f"{where}: {len(names)} class names, but the model has {count} outputs")
    return tuple(names)


def _looks_like_checkpoint(text: str) -> bool:
    """Not a model spec, so a SeedNet checkpoint path (the API of old: `load_model(PATH)`)."""
    return not (text in BUNDLED_ARCHITECTURES or text.endswith(".toml") or ":" in text)


def _build(
    spec: str, checkpoint: str | os.PathLike[str] | None, num_classes: int | None, weights: str | None = None
) -> tuple[nn.Module, ModelInfo]:
    if spec in BUNDLED_ARCHITECTURES:
        model = build_bundled(spec, num_classes or 10)
        source = bundled_weights(spec) if checkpoint is None else Path(checkpoint)
        wrapped_in = _load_state(model, source, spec)
        name = {"seednet": "SeedNet", "zfnet-cifar": "zfnet-cifar"}[spec]
        label = "bundled" if checkpoint is None else _checkpoint_label(checkpoint, wrapped_in)
        return model, replace(model_info(model), name=f"{name} ({label})", spec=spec, checkpoint=_opt(checkpoint))
    if spec.startswith(("torchvision:", "timm:")):
        kind, _, arch = spec.partition(":")
        if kind == "timm":
            from explorer.core.timm_models import open_timm as open_zoo
        else:
            from explorer.core.torchvision_models import open_torchvision as open_zoo
        model, rec, wrapped_in = open_zoo(arch, checkpoint, num_classes, weights)
        label = _checkpoint_label(checkpoint, wrapped_in) if checkpoint is not None else f"{rec.weights} weights"
        info = ModelInfo(
            f"{arch} ({label})",
            rec.crop,
            rec.classes,
            rec.mean,
            rec.std,
            spec=spec,
            checkpoint=_opt(checkpoint),
            resize=rec.resize,
            interpolation=rec.interpolation,
            weights=rec.weights,
        )
        return model, info
    if ":" not in spec:
        raise ModelError(
            f"{spec}: not a model (use seednet, zfnet-cifar, torchvision:NAME, timm:NAME, FILE.py:CLASS, "
            "package.module:CLASS or CARD.toml)"
        )
    model = user_class(spec, num_classes)
    wrapped_in = _load_state(model, Path(checkpoint), spec) if checkpoint is not None else None
    label = _checkpoint_label(checkpoint, wrapped_in) if checkpoint is not None else "random weights"
    info = model_info(model)
    return model, replace(info, name=f"{spec.rsplit(':', 1)[-1]} ({label})", spec=spec, checkpoint=_opt(checkpoint))


def _checkpoint_label(checkpoint: str | os.PathLike[str], wrapped_in: str | None) -> str:
    """The checkpoint's file name, and the key its state dict sat under when a training script wrapped it."""
    name = os.path.basename(os.fspath(checkpoint))
    return name if wrapped_in is None else f"{name}, key {wrapped_in!r}"


def _opt(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)


def _load_state(model: nn.Module, source: Path, what: str) -> str | None:
    """Load the checkpoint into `model`; the key its state dict sat under (`state_dict`, `model`, ...), if any."""
    from explorer.core.checkpoint import read_state_dict

    name = os.fspath(source)
    state = read_state_dict(source)
    check_state(model, state, name, what)
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()})
    return getattr(state, "wrapped_in", None)


def _check_triple(name: str, values: Sequence[float]) -> None:
    if len(values) != 3:
        raise ModelError(f"{name} {tuple(values)}: needs three values (R,G,B)")


def _check_runs(model: nn.Module, info: ModelInfo) -> int:
    """Trace the model and run it once at its input size; the output must be [1, classes] logits (the count returned)."""
    from explorer.core.graph import model_graph

    if next(iter(model.parameters()), None) is None:
        raise ModelError(f"{info.name}: has no parameters (no weights), so there is nothing learned to explore")
    channels = _input_channels(model)
    if channels not in (None, 3):
        raise ModelError(
            f"{info.name}: its first convolution takes {channels}-channel input; the explorer shows RGB images (3 channels)"
        )
    graph = model_graph(model)
    result = next(n for n in graph.gm.graph.nodes if n.op == "output").args[0]
    if not isinstance(result, fx.Node):
        kind = type(result).__name__.removeprefix("immutable_")  # fx's own dict and list
        article = "an" if kind[:1] in "aeiou" else "a"
        raise ModelError(f"{info.name}: forward() returns {article} {kind}, not a tensor of [batch, classes] logits")
    out = graph.shapes.get(result)
    if out is None:
        raise ModelError(f"{info.name}: forward() returns something other than a tensor of [batch, classes] logits")
    if len(out) != 2 or out[0] != 1:
        raise ModelError(f"{info.name}: returns a tensor of shape {out}, not [batch, classes] logits")
    if out[1] < 1:
        raise ModelError(f"{info.name}: returns logits of no class (shape {out})")
    return int(out[1])


def _input_channels(model: nn.Module) -> int | None:
    """The input channels of the first convolution met in the model (None without one)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None
