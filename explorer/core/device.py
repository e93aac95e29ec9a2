"""Choosing where torch work runs.

torch is imported inside the functions: the command line reads DEVICE_CHOICES before torch is needed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from explorer.core.errors import ExplorerError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # what --device accepts


def resolve_device(choice: str = "auto") -> torch.device:
    """ "auto" is CUDA when a GPU is present, else the CPU; "cuda" without a GPU is an error."""
    import torch

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
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def interactive_threads() -> int:
    """Set torch's intra-op threads for the window and return the number: $CNN_EXPLORER_THREADS, else 1.

    The window's torch work is many small operations on two threads of its own (the view worker and
    the scan): one intra-op thread each keeps them from spinning in each other's way. Measured on
    the loaded 2-core machine (docs/speed.md), two intra-op threads cost about 8x the CPU time of one
    for all 64 conv2 projections (190 ms against 25 ms of CPU per call) and made scrubbing slower.
    """
    import torch

    raw = os.environ.get("CNN_EXPLORER_THREADS", "")
    n = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
