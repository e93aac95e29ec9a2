"""Small helpers shared by the trust tests (files and a model to feed in, the command line run in-process, and the
one-line error they expect)."""

import contextlib
import signal
from pathlib import Path

from PIL import Image

from explorer.cli import main

GREEN, BLUE = (0, 255, 0), (0, 0, 255)

# A user's model file: the smallest CNN the explorer opens (one conv, one ReLU, pooled to ten logits).
TINY = """
import torch
from torch import nn

class Tiny(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))
"""


def png(path: Path, colour=GREEN, size=(16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """`cnn-explorer ARGV` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own error line
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *needles: str) -> str:
    """stderr's last line, checked to be the one `error:` line, holding every needle, with no traceback."""
    assert "Traceback" not in err, err
    lines = err.rstrip("\n").split("\n")
    last = lines[-1]
    assert last.startswith("error: "), err
    assert sum(line.startswith("error") for line in lines) == 1, err
    for needle in needles:
        assert needle in last, last
    return last


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail (not hang) when the block runs longer than `seconds`: a SIGALRM raises in the main thread."""

    def expired(_signum, _frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
