"""Which torchvision classification builders the explorer opens and projects: a Markdown table.

    python benchmarks/zoo_table.py [NAMES...]

Each builder is opened as the command line opens it with `--weights random`
(`load_model("torchvision:NAME", weights="random")`): fresh weights (no download) at its default
weights' crop size and normalisation, GoogLeNet and Inception v3 with `transform_input=True` as their
ImageNet weights build them. The table gives the number of
selectable layers, their activations, and for each method whether one projection of the last layer
(feature 0, one random image) comes out, or the one-line reason it does not.

Vision transformers (ViT, Swin, MaxViT) are left out: they are not convolutional, their tokens are
no spatial maps of an activation, and the explorer does not offer them.
"""

from __future__ import annotations

import sys
import time

import torch
import torchvision.models as M
from torchvision.models import get_model_weights

from explorer.core.graph import model_graph
from explorer.core.loading import load_model
from explorer.core.projection import METHODS, Projector

NOT_CONVOLUTIONAL = ("vit_", "swin_", "maxvit_")


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:100] if text else ''}".replace("|", "/")


def row(name: str) -> str:
    """One table row for the builder `name`."""
    size = int(get_model_weights(name).DEFAULT.transforms().crop_size[0])
    torch.manual_seed(0)
    try:
        model = load_model(f"torchvision:{name}", weights="random")
        found = model_graph(model).layers
    except Exception as exc:
        return f"| {name} | {size} | - | - | {one_line(exc)} | | |"
    kinds = ", ".join(sorted({lay.activation for lay in found}))
    if not found:
        return f"| {name} | {size} | 0 | - | no layer | no layer | no layer |"
    results = []
    try:
        projector = Projector(model, torch.rand(1, 3, size, size), found[-1].name)
    except Exception as exc:
        return f"| {name} | {size} | {len(found)} | {kinds} | {one_line(exc)} | | |"
    for method in METHODS:
        try:
            out = projector.project([0], method=method)
            results.append("ok" if bool(torch.isfinite(out).all()) else "not finite")
        except Exception as exc:
            results.append(one_line(exc))
    return f"| {name} | {size} | {len(found)} | {kinds} | {' | '.join(results)} |"


def main(names: list[str]) -> None:
    names = names or [n for n in M.list_models(module=M) if not n.startswith(NOT_CONVOLUTIONAL)]
    print("| builder | input | layers | activations | deconvnet | guided | gradient |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        start = time.perf_counter()
        line = row(name)
        print(line, flush=True)
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
