"""Sanity checks for saliency maps (Adebayo et al., 2018): do the pictures depend on what the model learned?

Cascading model-parameter randomization: a deep copy of the model has its layers with weights
re-initialised from the top (the classifier) down, one more at each step, and at each step every
method's picture for the same class is compared with the trained model's: Spearman's rank
correlation and SSIM of the absolute, channel-summed maps (`explorer.core.similarity`), averaged
over the images. A method whose pictures survive the randomization barely changed shows the
input more than the model. The trained model is never touched.

A step is a module with weights of its own and a `reset_parameters()` (Conv2d, Linear, ...),
named as `named_modules` names it (without the normalising wrapper's `inner.`); a normalisation
layer (BatchNorm, GroupNorm, LayerNorm) right above it in the traced graph is reset with it, so
zfnet-cifar's steps are fc, conv5 (with bn5), ..., conv1. The re-initialisation runs
`reset_parameters()` under `torch.manual_seed(seed)` inside `torch.random.fork_rng`, so a seed gives
the same randomized weights every time and the caller's random state is left as it was.

`random_label_check` is the data-side test in miniature: the picture for the predicted class against
the picture for another class drawn at random.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.core.errors import OptionError
from explorer.core.graph import model_graph
from explorer.core.saliency import SALIENCY_METHODS, Targets, predicted_classes, saliency_maps
from explorer.core.similarity import rank_correlation, ssim

NORMALISATIONS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@dataclass(frozen=True, eq=False)
class Sanity:
    """The cascade: step i re-initialised `layers[i]` on top of the layers before it (top first).

    `spearman[method]` and `ssim[method]` hold one value per step, the mean over the images;
    `pictures[method]` is [steps + 1, B, H, W] (float32; index 0 is the trained model's).
    """

    layers: tuple[str, ...]
    spearman: dict[str, np.ndarray]
    ssim: dict[str, np.ndarray]
    pictures: dict[str, np.ndarray]
    targets: np.ndarray
    seed: int


def sanity(
    model: nn.Module,
    images: torch.Tensor,
    *,
    methods: Sequence[str] = SALIENCY_METHODS,
    target: Targets = None,
    seed: int = 0,
    depth: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Sanity:
    """Cascading randomization of `model` (a copy) for each method's picture of `target` (default: the prediction).

    `depth` stops after that many steps (None: every layer with weights). `progress(done, total)` is
    called after each step.
    """
    methods = tuple(methods)
    bad = [m for m in methods if m not in SALIENCY_METHODS]
    if bad or not methods:
        raise OptionError(f"unknown method {bad[0] if bad else '(none)'!r}: choose from {', '.join(SALIENCY_METHODS)}")
    targets = predicted_classes(model, images) if target is None else target
    trained = {m: saliency_maps(model, images, targets, method=m).cpu().numpy() for m in methods}
    randomized = copy.deepcopy(model)
    steps = cascade_steps(randomized)
    if depth is not None:
        if depth < 1:
            raise OptionError(f"depth {depth}: randomize at least one layer")
        steps = steps[:depth]
    pictures = {m: [trained[m]] for m in methods}
    rho = {m: np.zeros(len(steps)) for m in methods}
    sim = {m: np.zeros(len(steps)) for m in methods}
    devices = _cuda_devices(model)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for i, (_name, modules) in enumerate(steps):
            for module in modules:
                module.reset_parameters()  # type: ignore[operator]
            for m in methods:
                now = saliency_maps(randomized, images, targets, method=m).cpu().numpy()
                pictures[m].append(now)
                rho[m][i] = np.mean([rank_correlation(a, b) for a, b in zip(trained[m], now, strict=True)])
                sim[m][i] = np.mean([ssim(a, b) for a, b in zip(trained[m], now, strict=True)])
            if progress is not None:
                progress(i + 1, len(steps))
    picked = targets if isinstance(targets, torch.Tensor) else torch.as_tensor(targets)
    return Sanity(
        tuple(name for name, _ in steps),
        rho,
        sim,
        {m: np.stack(p).astype(np.float32) for m, p in pictures.items()},
        np.broadcast_to(picked.cpu().numpy(), (images.shape[0],)).astype(np.int64),
        seed,
    )


def cascade_steps(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """The modules re-initialised at each step, top first: each with its own weights, normalisation with its layer."""
    graph = model_graph(model)
    prefix = getattr(model, "node_prefix", "")
    names = {m: name for name, m in model.named_modules()}
    groups: list[tuple[str, list[nn.Module]]] = []
    seen: set[nn.Module] = set()
    for node in graph.gm.graph.nodes:
        if node.op == "call_module":
            owner = str(node.target)
        elif node.op == "get_attr":
            owner = str(node.target).rpartition(".")[0]
        else:
            continue
        try:
            module = model.get_submodule(owner)
        except AttributeError:
            continue
        if module in seen or not callable(getattr(module, "reset_parameters", None)):
            continue
        if not any(True for _ in module.parameters(recurse=False)) and not isinstance(module, NORMALISATIONS):
            continue
        seen.add(module)
        if isinstance(module, NORMALISATIONS) and groups:
            groups[-1][1].append(module)
        else:
            groups.append((names[module].removeprefix(prefix), [module]))
    return groups[::-1]


@dataclass(frozen=True)
class RandomLabelCheck:
    """Per image: the predicted class, the other class drawn, and the rank correlation of their pictures."""

    predicted: np.ndarray
    other: np.ndarray
    spearman: np.ndarray
    method: str


def random_label_check(
    model: nn.Module, images: torch.Tensor, *, method: str = "gradient", seed: int = 0
) -> RandomLabelCheck:
    """The picture for the predicted class against that for a class drawn at random among the others (seeded)."""
    predicted = predicted_classes(model, images)
    classes = _class_count(model, images)
    if classes < 2:
        raise OptionError("the random-label check needs a model with at least two classes")
    shift = np.random.default_rng(seed).integers(1, classes, size=predicted.numel())
    other = (predicted.numpy() + shift) % classes
    a = saliency_maps(model, images, predicted, method=method).cpu().numpy()
    b = saliency_maps(model, images, torch.from_numpy(other), method=method).cpu().numpy()
    rho = np.array([rank_correlation(p, q) for p, q in zip(a, b, strict=True)])
    return RandomLabelCheck(predicted.numpy(), other.astype(np.int64), rho, method)


def _class_count(model: nn.Module, images: torch.Tensor) -> int:
    with torch.no_grad():
        was_training = model.training
        model.eval()
        try:
            param = next(iter(model.parameters()))
            return int(model(images[:1].to(param.device, param.dtype)).shape[1])
        finally:
            model.train(was_training)


def _cuda_devices(model: nn.Module) -> list[int]:
    devices = {p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"}
    return sorted(devices)
