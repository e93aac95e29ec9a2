"""Activation maximization against the data: each feature's synthesized image vs. its best test image.

    python benchmarks/maximize_vs_dataset_best.py MODEL LAYER CIFAR [PARAM LR]
    python benchmarks/maximize_vs_dataset_best.py zfnet-cifar conv5 CIFAR
    python benchmarks/maximize_vs_dataset_best.py seednet conv2 CIFAR fourier 0.15

CIFAR is a folder with CIFAR-10's `train/` and `test/` class folders. Synthesizes every feature of
LAYER with `maximize` (its defaults, or `param` and `lr` given), one torch thread, and prints how
many features reach at least the strongest activation of any test image, with the ratios' median,
minimum and maximum (the figures in docs/experiments.md).
"""

import sys
import time

import numpy as np
import torch

from explorer.core import layers, load_model, maximize
from explorer.core.datasets import open_folder
from explorer.core.scan import scan_top_k
from explorer.core.synthesis import feature_response

spec, layer, data = sys.argv[1:4]
extra = {"param": sys.argv[4], "lr": float(sys.argv[5])} if len(sys.argv) > 5 else {}
torch.set_num_threads(1)
model = load_model(spec, None, torch.device("cpu"))
channels = next(lay.channels for lay in layers(model) if lay.name == layer)
t = time.perf_counter()
images = maximize(model, layer, list(range(channels)), **extra)
took = time.perf_counter() - t
reached = feature_response(model, images, layer, list(range(channels))).numpy()
best = scan_top_k(model, open_folder(f"{data}/test"), [layer], k=1)[layer].values[:, 0]
ratio = reached / np.maximum(best, 1e-12)
print(f"{spec} {layer} {extra or 'defaults'}: {channels} features synthesized in {took:.1f} s (one thread)")
print(
    f"at least the dataset's best: {(ratio >= 1).sum()} of {channels}; ratio median {np.median(ratio):.2f}, "
    f"min {ratio.min():.2f}, max {ratio.max():.2f}"
)
