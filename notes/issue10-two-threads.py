"""SeedNet's engine figures with torch's two intra-op threads, as the speed issue's baseline was taken
(the bench now measures with one, as the window runs): layer_projection_ms and scan_images_per_s.

python notes/issue10-two-threads.py DATA
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
print({"scan_images_per_s": round(rate), "forward_images_per_s": round(forward_rate(model, scanned.all_pixels(), torch.device("cpu"), 3))})
