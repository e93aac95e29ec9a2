"""Training and evaluation of a classifier on in-memory uint8 images, resumable epoch by epoch.

Recipe: a one-cycle learning-rate schedule (AdamW for SeedNet, SGD with Nesterov momentum for
models with BatchNorm), random 32x32 crops of the image padded by 4 pixels (reflection) and
horizontal flips, label smoothing 0.1.
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
class Recipe:
    """Optimizer settings for one architecture."""

    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum 0.9)
    max_lr: float = 2e-3
    weight_decay: float = 0.05
    batch_size: int = 128


RECIPES = {
    "seednet": Recipe(),
    "zfnet-cifar": Recipe(optimizer="sgd", max_lr=0.1, weight_decay=5e-4, batch_size=128),
}


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


def snapshot_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The conv and BatchNorm tensors of `model` (floats as float16, to keep bundled snapshots small)."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)):
            for key, value in module.state_dict().items():
                value = value.detach().cpu().clone()
                out[f"{name}.{key}"] = value.half() if value.is_floating_point() else value
    return out


@torch.no_grad()
def evaluate(
    model: nn.Module, pixels: np.ndarray, labels: np.ndarray, device: str | torch.device = "cpu", batch: int = 500
) -> float:
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
    model: nn.Module | None = None,
    recipe: Recipe = RECIPES["seednet"],
    device: str | torch.device = "cpu",
    test: tuple[np.ndarray, np.ndarray] | None = None,
    snapshot_epochs: Sequence[int] = DEFAULT_SNAPSHOTS,
    on_snapshot: Callable[[int, nn.Module], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    on_state: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    seed: int = 0,
) -> nn.Module:
    """Train `model` (a fresh SeedNet when None); calls `on_snapshot(epoch, model)` at the snapshot epochs and the last.

    After every epoch `on_state(state)` receives everything needed to go on (weights, optimizer,
    schedule, random state); passing that state back as `resume` continues the run exactly where it was.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if model is None:
        model = SeedNet()
    # channels-last convolutions train about a quarter faster on the CPU.
    model = model.to(device).to(memory_format=torch.channels_last)
    if recipe.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            model.parameters(), lr=recipe.max_lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay
        )
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    batch_size = recipe.batch_size
    steps = math.ceil(len(train_labels) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.max_lr, total_steps=epochs * steps, pct_start=0.2)
    first = 1
    if resume is not None:
        if resume.get("epochs") != epochs:
            raise ValueError(f"the saved run was for {resume.get('epochs')} epochs, not {epochs}")
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        gen.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        first = int(resume["epoch"]) + 1
    images = to_tensor(train_pixels, "cpu")
    targets = torch.as_tensor(train_labels, dtype=torch.long)
    for epoch in range(first, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(targets), generator=gen)
        total_loss, correct = 0.0, 0
        for step in range(steps):
            if should_stop():
                return model
            idx = order[step * batch_size : (step + 1) * batch_size]
            x = augment(images[idx], gen).to(device, memory_format=torch.channels_last)
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
        if on_state is not None:
            on_state(
                {
                    "epoch": epoch,
                    "epochs": epochs,
                    "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "generator": gen.get_state(),
                    "torch_rng": torch.get_rng_state(),
                }
            )
    model.eval()
    return model
