"""The README's sentences on occlusion, evolution and invariance for zfnet-cifar (issue 11).

D="$(../shared/data/cifar10)" python notes/issue11-stats-zfnet.py
"""

import os

import numpy as np
import torch

from explorer.core import evolution, invariance, load_model, occlusion
from explorer.core.checkpoint import load_snapshots
from explorer.core.datasets import open_dataset

ds = open_dataset(os.environ["D"], "test")
m = load_model("zfnet-cifar")
idx = (np.arange(200) * len(ds)) // 200
x = ds.tensor(list(idx))
y = torch.tensor(ds.labels[idx])
r = occlusion(m, x, size=8, stride=4)
pt = r.probs[torch.arange(200), y]
base = r.base_probs[torch.arange(200), y]
print("occlusion: base p(true) mean %.3f, worst position mean %.3f, median position mean %.3f"
      % (base.mean(), pt.flatten(1).min(1).values.mean(), pt.flatten(1).median(1).values.mean()))
flip = (r.top_class != y[:, None, None]).float().flatten(1).mean(1)
correct = r.base_probs.argmax(1) == y
print("correct plain %.3f; top class changes at %.3f of positions among correct" % (correct.float().mean(), flip[correct].mean()))
snaps = load_snapshots(model="zfnet-cifar")
sample = ds.tensor(list((np.arange(256) * len(ds)) // 256))
for layer, channels in (("conv1", 48), ("conv3", 192), ("conv5", 192)):
    steps = evolution(m, snaps, sample, layer, list(range(channels)))
    last = steps[-1].indices
    print(layer, "same strongest image as the last epoch:",
          ", ".join(f"epoch {s.epoch}: {(s.indices == last).sum()}/{channels}" for s in steps))
for t, vals in [("translate", [-8, -4, -2, 0, 2, 4, 8]), ("scale", [0.6, 0.8, 1.0, 1.2, 1.4]),
                ("rotate", [-45, -20, -10, 0, 10, 20, 45])]:
    acc = np.zeros(len(vals))
    d = np.zeros((3, len(vals)))
    for i in range(100):
        res = invariance(m, x[i], t, vals, layer=["conv1", "conv3", "conv5"])
        acc += (res.probs.argmax(1) == y[i]).numpy()
        dd = res.distance.numpy()
        d += dd / dd.max(1, keepdims=True)
    print(t, vals, "accuracy", np.round(acc / 100, 2).tolist(), "rel dist conv1", np.round(d[0] / 100, 2).tolist(),
          "conv3", np.round(d[1] / 100, 2).tolist(), "conv5", np.round(d[2] / 100, 2).tolist())
