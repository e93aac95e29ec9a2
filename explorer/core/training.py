"""Training and evaluation of SeedNet on in-memory uint8 images.

Recipe: AdamW with a one-cycle learning-rate schedule, random 32x32 crops of the image padded by
4 pixels (reflection) and horizontal flips, label smoothing 0.1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.images import to_tensor
from explorer.core.model import SeedNet

DEFAULT_SNAPSHOTS = (1, 2, 5, 10, 20)


@dataclass(frozen=True)
class EpochReport:
    """What one finished epoch reports."""

    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float | None
    seconds: float


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crops from the 4-pixel reflection-padded image and random horizontal flips."""
    n, _, h, w = batch.shape
    padded = F.pad(batch, (4, 4, 4, 4), mode="reflect")
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(batch.device)
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(batch.device)
    idx_n = torch.arange(n, device=batch.device)[:, None, None, None]
    idx_c = torch.arange(batch.shape[1], device=batch.device)[None, :, None, None]
    out = padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]
    flip = (torch.rand(n, generator=generator) < 0.5).to(batch.device)
    out[flip] = out[flip].flip(-1)
    return out


@torch.no_grad()
def evaluate(model: nn.Module, pixels: np.ndarray, labels: np.ndarray, device: str | torch.device = "cpu", batch: int = 500) -> float:
    """Top-1 accuracy of `model` on uint8 [N, 32, 32, 3] images."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch):
        x = to_tensor(pixels[start : start + batch], device)
        pred = model(x).argmax(1).cpu().numpy()
        correct += int((pred == labels[start : start + batch]).sum())
    model.train(was_training)
    return correct / max(len(labels), 1)


def train(
    train_pixels: np.ndarray,
    train_labels: np.ndarray,
    *,
    epochs: int,
    device: str | torch.device = "cpu",
    test: tuple[np.ndarray, np.ndarray] | None = None,
    snapshot_epochs: Sequence[int] = DEFAULT_SNAPSHOTS,
    on_snapshot: Callable[[int, SeedNet], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    batch_size: int = 128,
    max_lr: float = 2e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
) -> SeedNet:
    """Train a fresh SeedNet; calls `on_snapshot(epoch, model)` at the snapshot epochs and the last."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SeedNet().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=max_lr, weight_decay=weight_decay)
    steps = math.ceil(len(train_labels) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=epochs * steps, pct_start=0.2)
    images = to_tensor(train_pixels, "cpu")
    targets = torch.as_tensor(train_labels, dtype=torch.long)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(targets), generator=gen)
        total_loss, correct = 0.0, 0
        for step in range(steps):
            if should_stop():
                return model
            idx = order[step * batch_size : (step + 1) * batch_size]
            x = augment(images[idx], gen).to(device)
            y = targets[idx].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            if on_batch is not None:
                on_batch(step + 1, steps)
        test_acc = evaluate(model, test[0], test[1], device) if test is not None else None
        if on_epoch is not None:
            n = len(targets)
            on_epoch(EpochReport(epoch, epochs, total_loss / n, correct / n, test_acc, time.perf_counter() - t0))
        if on_snapshot is not None and (epoch in snapshot_epochs or epoch == epochs):
            on_snapshot(epoch, model)
    model.eval()
    return model
