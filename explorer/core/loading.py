"""Opening any model: the bundled ones, torchvision architectures, a user's class from a file or a module, a model card.

A spec is `seednet`, `zfnet-cifar`, `torchvision:NAME`, `FILE.py:CLASS`, `package.module:CLASS` or
`CARD.toml` (a model card holding the same settings). Weights come from a state dict, always read
with `weights_only=True`. The model comes back in eval mode with an `explorer_info` (ModelInfo).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from explorer.core.errors import CheckpointError, ModelError
from explorer.core.model_info import ModelInfo, model_info
from explorer.core.zoo import BUNDLED_ARCHITECTURES, build_bundled

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CARD_KEYS = {"model", "checkpoint", "num_classes", "input_size", "mean", "std", "classes", "name"}


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
) -> nn.Module:
    """A model in eval mode on `device`, checked to trace and to run at its input size.

    `load_model()` is the bundled SeedNet and `load_model("zfnet-cifar")` the bundled five-layer
    model. As before, `load_model(PATH)` with a checkpoint file loads SeedNet weights from it.
    """
    spec_text = "seednet" if spec is None else os.fspath(spec)
    if checkpoint is None and _looks_like_checkpoint(spec_text):
        spec_text, checkpoint = "seednet", spec_text
    card: dict = {}
    if spec_text.endswith(".toml"):
        card = read_card(spec_text)
        spec_text = card["model"]
        checkpoint = checkpoint if checkpoint is not None else card.get("checkpoint")
        num_classes = num_classes if num_classes is not None else card.get("num_classes")
        input_size = input_size if input_size is not None else card.get("input_size")
        mean = mean if mean is not None else card.get("mean")
        std = std if std is not None else card.get("std")
    model, info = _build(spec_text, checkpoint, num_classes)
    if (mean is None) != (std is None):
        raise ModelError("--mean and --std go together: give both or neither")
    if mean is None and spec_text.startswith("torchvision:"):
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    if mean is not None and std is not None:
        _check_triple("mean", mean)
        _check_triple("std", std)
        if any(float(s) <= 0 for s in std):
            raise ModelError(f"std {tuple(std)}: every value must be positive")
        model = Normalized(model, [float(m) for m in mean], [float(s) for s in std])
        info = replace(info, mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))  # type: ignore[arg-type]
    if input_size is not None:
        if not 8 <= int(input_size) <= 1024:
            raise ModelError(f"input size {input_size}: must be between 8 and 1024 pixels")
        info = replace(info, input_size=int(input_size))
    if card.get("classes"):
        classes = tuple(str(c) for c in card["classes"])
        info = replace(info, classes=classes)
    if card.get("name"):
        info = replace(info, name=str(card["name"]))
    model.explorer_info = info  # type: ignore[assignment]
    model = model.to(device).eval()
    _check_runs(model, info)
    return model


def _looks_like_checkpoint(text: str) -> bool:
    """Not a model spec, so a SeedNet checkpoint path (the API of old: `load_model(PATH)`)."""
    return not (
        text in BUNDLED_ARCHITECTURES or text.startswith("torchvision:") or text.endswith(".toml") or ":" in text
    )


def read_card(path: str) -> dict:
    """A model card: TOML with `model` and optionally checkpoint (relative to the card), num_classes, input_size, mean, std, classes, name."""
    try:
        with open(path, "rb") as fh:
            card = tomllib.load(fh)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model card") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a readable model card ({exc})") from None
    unknown = sorted(set(card) - _CARD_KEYS)
    if unknown:
        raise ModelError(f"{path}: unknown key {unknown[0]!r} (a card may hold {', '.join(sorted(_CARD_KEYS))})")
    if not isinstance(card.get("model"), str):
        raise ModelError(
            f'{path}: the card needs a `model = "..."` line (seednet, torchvision:NAME, FILE.py:CLASS, ...)'
        )
    base = Path(path).parent
    if isinstance(card.get("checkpoint"), str):
        card["checkpoint"] = os.fspath(base / card["checkpoint"])
    model = card["model"]
    if ".py:" in model and not os.path.isabs(model.split(":")[0]):
        card["model"] = os.fspath(base / model)
    return card


def _build(
    spec: str, checkpoint: str | os.PathLike[str] | None, num_classes: int | None
) -> tuple[nn.Module, ModelInfo]:
    if spec in BUNDLED_ARCHITECTURES:
        model = build_bundled(spec, num_classes or 10)
        source = bundled_weights(spec) if checkpoint is None else Path(checkpoint)
        _load_state(model, source, spec)
        name = {"seednet": "SeedNet", "zfnet-cifar": "zfnet-cifar"}[spec]
        label = "bundled" if checkpoint is None else os.path.basename(os.fspath(checkpoint))
        return model, replace(model_info(model), name=f"{name} ({label})", spec=spec, checkpoint=_opt(checkpoint))
    if spec.startswith("torchvision:"):
        model = _torchvision(spec.partition(":")[2], checkpoint, num_classes)
    elif ":" in spec:
        model = _user_class(spec, num_classes)
        if checkpoint is not None:
            _load_state(model, Path(checkpoint), spec)
    else:
        raise ModelError(
            f"{spec}: not a model (use seednet, zfnet-cifar, torchvision:NAME, FILE.py:CLASS, package.module:CLASS or CARD.toml)"
        )
    if spec.startswith("torchvision:") and checkpoint is not None:
        _load_state(model, Path(checkpoint), spec)
    weights = (
        os.path.basename(os.fspath(checkpoint))
        if checkpoint is not None
        else "pretrained"
        if spec.startswith("torchvision:")
        else "random weights"
    )
    short = spec.rsplit(":", 1)[-1]
    info = model_info(model)
    return model, replace(info, name=f"{short} ({weights})", spec=spec, checkpoint=_opt(checkpoint))


def _opt(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)


def _torchvision(name: str, checkpoint, num_classes: int | None) -> nn.Module:
    import torchvision

    available = set(torchvision.models.list_models(module=torchvision.models))
    if name not in available:
        close = sorted(n for n in available if n.startswith(name[:3]))[:8]
        raise ModelError(
            f"torchvision:{name}: no such torchvision classifier"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
        )
    if checkpoint is not None or num_classes is not None:
        kwargs = {"num_classes": num_classes} if num_classes is not None else {}
        model = torchvision.models.get_model(name, weights=None, **kwargs)
        if checkpoint is None:
            raise ModelError(
                f"torchvision:{name}: --num-classes {num_classes} needs your own weights (--checkpoint); "
                "the pretrained ones have 1000 classes"
            )
        return model
    try:
        return torchvision.models.get_model(name, weights="DEFAULT")
    except Exception as exc:  # offline, or no pretrained weights for this name
        raise ModelError(
            f"torchvision:{name}: could not get torchvision's pretrained weights ({type(exc).__name__}: {_first_line(exc)}); "
            "give your own with --checkpoint FILE"
        ) from None


def _user_class(spec: str, num_classes: int | None) -> nn.Module:
    where, _, cls_name = spec.rpartition(":")
    if where.endswith(".py"):
        if not os.path.isfile(where):
            raise ModelError(f"{where}: no such Python file")
        mod_name = f"explorer_user_model_{abs(hash(os.path.abspath(where)))}"
        try:
            mod_spec = importlib.util.spec_from_file_location(mod_name, where)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[mod_name] = module
            mod_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(mod_name, None)
            raise ModelError(f"{where}: the file fails to run ({type(exc).__name__}: {_first_line(exc)})") from None
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:
            raise ModelError(f"{where}: cannot import the module ({type(exc).__name__}: {_first_line(exc)})") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ModelError(f"{where}: defines no {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelError(f"{where}: {cls_name!r} is not an nn.Module class")
    try:
        return cls(num_classes=num_classes) if num_classes is not None else cls()
    except Exception as exc:
        raise ModelError(f"{where}: {cls_name}() fails ({type(exc).__name__}: {_first_line(exc)})") from None


def _load_state(model: nn.Module, source: Path, what: str) -> None:
    from explorer.core.checkpoint import read_state_dict

    name = os.fspath(source)
    state = read_state_dict(source)
    check_state(model, state, name, what)
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()})


def check_state(model: nn.Module, state: Mapping[str, torch.Tensor], name: str, what: str) -> None:
    """Raise CheckpointError unless `state` has exactly the model's keys and shapes (missing and unexpected keys named)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing keys: " + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected[:20]) + (" ..." if len(unexpected) > 20 else ""))
        raise CheckpointError(f"{name}: not a {_label(what)} state dict ({'; '.join(parts)})")
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(f"{name}: not a {_label(what)} state dict (wrong shapes: {', '.join(wrong[:10])})")


def _label(what: str) -> str:
    return {"seednet": "SeedNet", "zfnet-cifar": "zfnet-cifar"}.get(what, what)


def _check_triple(name: str, values: Sequence[float]) -> None:
    if len(values) != 3:
        raise ModelError(f"{name} {tuple(values)}: needs three values (R,G,B)")


def _check_runs(model: nn.Module, info: ModelInfo) -> None:
    """Trace the model and run it once at its input size; the output must be [1, classes] logits."""
    from explorer.core.graph import model_graph

    graph = model_graph(model)
    out = graph.shapes.get(next(n for n in graph.gm.graph.nodes if n.op == "output").args[0])  # type: ignore[arg-type]
    if out is not None and (len(out) != 2 or out[0] != 1):
        raise ModelError(f"{info.name}: returns a tensor of shape {out}, not [batch, classes] logits")
    if not graph.layers:
        raise ModelError(f"{info.name}: has no ReLU with spatial maps, so there are no features to explore")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"
