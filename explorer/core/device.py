"""Choosing where torch work runs."""

from __future__ import annotations

import torch

from explorer.core.errors import ExplorerError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> torch.device:
    """ "auto" is CUDA when a GPU is present, else the CPU; "cuda" without a GPU is an error."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise ExplorerError("--device cuda: no CUDA GPU is available on this machine (use --device cpu or auto)")
        return torch.device("cuda")
    raise ExplorerError(f"--device {choice}: unknown device (use auto, cpu or cuda)")


def describe_device(device: torch.device) -> str:
    """A short human name, e.g. 'cpu' or 'cuda (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"
