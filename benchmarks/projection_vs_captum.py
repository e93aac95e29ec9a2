"""The explorer's projections against Captum and the plain gradient, measured in turns in one process.

    python benchmarks/projection_vs_captum.py seednet CIFAR [--turns 7]
    python benchmarks/projection_vs_captum.py photo PHOTO [--model vgg16] [--turns 5]

`seednet`: all 64 conv2 projections of one CIFAR-10 test image (CIFAR is a folder with a `test/` split)
in one call of the engine, against a per-feature loop of Captum's NeuronDeconvolution over the same 64
features, the way a Captum user gets them. `photo`: one feature of the last layer of a torchvision model
(random weights) for one photo prepared by the model's preprocessing (224 px), cold (the forward pass
included) against the plain gradient of the same feature (autograd, the forward stopped at the layer)
and Captum's NeuronDeconvolution, and one image's whole forward pass. Every figure is the median over the
turns; in each turn every contender runs once, in the same order, so a busy moment of the machine falls
on all of them. Torch runs on one intra-op thread, as the window's worker does (`--threads` to change).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def in_turns(contenders: dict[str, Callable[[], object]], turns: int) -> dict[str, float]:
    """Median milliseconds of each contender over `turns` turns (one warm-up turn first)."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(turns):
        for name, fn in contenders.items():
            times[name].append(_timed(fn))
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def _no_inplace(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # Captum's hooks on a ReLU need its output apart from its input
    return model


def captum_deconvnet(model: nn.Module, module: nn.Module, x: torch.Tensor, feature: int) -> torch.Tensor:
    """Captum's NeuronDeconvolution of one feature's whole map (the gradient of 0.5 * sum(map^2))."""
    from captum.attr import NeuronDeconvolution

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Setting backward hooks on ReLU")
        return NeuronDeconvolution(model, module).attribute(
            x, neuron_selector=lambda out: 0.5 * (out[:, feature] ** 2).sum((1, 2))
        )


class _Stop(Exception):
    pass


def plain_gradient(model: nn.Module, module: nn.Module, x: torch.Tensor, feature: int) -> torch.Tensor:
    """d/dx of 0.5 * sum(map^2) for one feature, by autograd, the forward pass stopped at `module`."""
    got: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        got.append(output)
        raise _Stop

    x = x.detach().requires_grad_(True)
    handle = module.register_forward_hook(keep)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(0.5 * (got[-1][:, feature] ** 2).sum(), x)
    return grad


def seednet(folder: str, turns: int) -> dict[str, float]:
    from explorer.core import load_model, project
    from explorer.core.datasets import open_folder

    model = _no_inplace(load_model("seednet", None, torch.device("cpu")))
    x = open_folder(f"{folder}/test").tensor([0])
    features = range(64)
    times = in_turns(
        {
            "layer_projection_ms": lambda: project(model, x, "conv2", None),
            "captum_per_feature_loop_ms": lambda: [captum_deconvnet(model, model.relu2, x, f) for f in features],
        },
        turns,
    )
    times["captum_over_explorer"] = round(times["captum_per_feature_loop_ms"] / times["layer_projection_ms"], 1)
    return times


# The module whose output is the model's last layer, for Captum's hooks (each runs once per forward pass).
LAST = {"vgg16": "features.29", "resnet50": "layer4", "resnet18": "layer4", "vgg11": "features.19"}


def photo(path: str, name: str, turns: int) -> dict[str, float]:
    from PIL import Image

    from explorer.core import layers, load_model, predict, project
    from explorer.core.preprocessing import preprocessing_of

    model = _no_inplace(load_model(f"torchvision:{name}", weights="random").eval())
    prepare = preprocessing_of(model)
    with Image.open(path) as img:
        pixels = prepare.pixels(img)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    last = layers(model)[-1]
    # The engine's model normalises its [0, 1] input itself; a Captum user holds the torchvision model and
    # feeds it normalised pictures.
    net = model.inner
    module = net.get_submodule(LAST[name])
    normalised = (x - model.mean) / model.std
    feature = 7
    with torch.no_grad():
        forward = in_turns({"forward_one_ms": lambda: predict(model, x)}, turns)
    times = in_turns(
        {
            "explorer_cold_ms": lambda: project(model, x, last.name, feature),
            "plain_gradient_ms": lambda: plain_gradient(net, module, normalised, feature),
            "captum_deconvolution_ms": lambda: captum_deconvnet(net, module, normalised, feature),
        },
        turns,
    )
    return {"model": name, "layer": last.name, "size": x.shape[-1], **forward, **times}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("seednet", "photo"))
    p.add_argument("source", help="seednet: a CIFAR-10 folder with test/; photo: one photo")
    p.add_argument("--model", default="vgg16", choices=sorted(LAST))
    p.add_argument("--turns", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = seednet(args.source, args.turns) if args.mode == "seednet" else photo(args.source, args.model, args.turns)
    print({"torch_threads": torch.get_num_threads(), "turns": args.turns, **result})


if __name__ == "__main__":
    main()
