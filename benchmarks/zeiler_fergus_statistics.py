"""Occlusion, feature evolution and invariance over many test images: the statistics in docs/experiments.md.

    python benchmarks/zeiler_fergus_statistics.py seednet CIFAR
    python benchmarks/zeiler_fergus_statistics.py zfnet-cifar CIFAR

CIFAR is a folder with CIFAR-10's `train/` and `test/` class folders; the model is a bundled one (its
training snapshots feed the evolution). Occlusion (8x8 square, stride 4) runs on 200 test images
spread over the split, evolution on 256, invariance (shifts, scales, rotations) on the first 100 of
the 200. A few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from explorer.core import evolution, invariance, layers, load_model, occlusion
from explorer.core.checkpoint import load_snapshots
from explorer.core.datasets import open_dataset

# The layers each bundled model reports on: all of SeedNet's, every other one of zfnet-cifar's.
LAYERS = {"seednet": ["conv1", "conv2"], "zfnet-cifar": ["conv1", "conv3", "conv5"]}
TRANSFORMS = [
    ("translate", [-8, -4, -2, 0, 2, 4, 8]),
    ("scale", [0.6, 0.8, 1.0, 1.2, 1.4]),
    ("rotate", [-45, -20, -10, 0, 10, 20, 45]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(LAYERS))
    parser.add_argument("data", help="a folder with train/ and test/ class folders of CIFAR-10 images")
    args = parser.parse_args()
    names = LAYERS[args.model]

    ds = open_dataset(args.data, "test")
    model = load_model(args.model)
    idx = (np.arange(200) * len(ds)) // 200
    x = ds.tensor(list(idx))
    y = torch.tensor(ds.labels[idx])

    r = occlusion(model, x, size=8, stride=4)
    pt = r.probs[torch.arange(200), y]  # [200, ny, nx]
    base = r.base_probs[torch.arange(200), y]
    worst_p = float(pt.flatten(1).min(1).values.mean())
    median_p = float(pt.flatten(1).median(1).values.mean())
    print(
        f"occlusion: base p(true) mean {float(base.mean()):.3f}, worst position mean {worst_p:.3f}, "
        f"median position mean {median_p:.3f}"
    )
    flip = (r.top_class != y[:, None, None]).float().flatten(1).mean(1)
    correct = r.base_probs.argmax(1) == y
    print(
        f"correct plain {float(correct.float().mean()):.3f}; "
        f"top class changes at {float(flip[correct].mean()):.3f} of positions among correct"
    )
    worst = pt.flatten(1).argmin(1)
    cy = (torch.tensor(r.ys) + 4)[worst // len(r.xs)]
    cx = (torch.tensor(r.xs) + 4)[worst % len(r.xs)]
    centre = float(((cy - 16.0) ** 2 + (cx - 16.0) ** 2).sqrt().median())
    print(f"most damaging square centre: median distance from image centre {centre:.1f} px")

    snapshots = load_snapshots(model=args.model)
    sample = ds.tensor(list((np.arange(256) * len(ds)) // 256))
    channels = {lay.name: lay.channels for lay in layers(model)}
    for name in names:
        steps = evolution(model, snapshots, sample, name, list(range(channels[name])))
        last = steps[-1].indices
        same = ", ".join(f"epoch {s.epoch}: {(s.indices == last).sum()}/{channels[name]}" for s in steps)
        print(name, "same strongest image as the last epoch:", same)

    for transform, values in TRANSFORMS:
        accuracy = np.zeros(len(values))
        distance = np.zeros((len(names), len(values)))
        for i in range(100):
            res = invariance(model, x[i], transform, values, layer=names)
            accuracy += (res.probs.argmax(1) == y[i]).numpy()
            d = res.distance.numpy()
            distance += d / d.max(1, keepdims=True)
        rel = ", ".join(f"{n} {np.round(distance[j] / 100, 2).tolist()}" for j, n in enumerate(names))
        print(transform, values, "accuracy", np.round(accuracy / 100, 2).tolist(), "relative distance", rel)


if __name__ == "__main__":
    main()
