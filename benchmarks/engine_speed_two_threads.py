"""SeedNet's engine figures with two torch intra-op threads: layer_projection_ms, scan and forward rates.

    python benchmarks/engine_speed_two_threads.py CIFAR

CIFAR is a folder with CIFAR-10's `train/` and `test/` class folders. `cnn-explorer bench` takes these
figures with one thread, as the window runs; this script takes them with two, torch's default on a
2-core machine and the setting of the older measurements in docs/speed.md.
"""

import sys

import torch

from explorer.bench.core import forward_rate, projection_times, scan_rate
from explorer.core import load_model
from explorer.core.datasets import open_folder

torch.set_num_threads(2)
data = sys.argv[1]
model = load_model("seednet", None, torch.device("cpu"))
test = open_folder(f"{data}/test")
print({"torch_threads": torch.get_num_threads(), **projection_times(model, test.tensor([0]), torch.device("cpu"), 30)})
rate, scanned = scan_rate(model, lambda: open_folder(f"{data}/test"), 3)
print(
    {
        "scan_images_per_s": round(rate),
        "forward_images_per_s": round(forward_rate(model, scanned.all_pixels(), torch.device("cpu"), 3)),
    }
)
