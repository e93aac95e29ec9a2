"""Small helpers shared by the trust tests (files to feed in, and the one-line error they expect)."""

import contextlib
import signal
from pathlib import Path

from PIL import Image

GREEN, BLUE = (0, 255, 0), (0, 0, 255)


def png(path: Path, colour=GREEN, size=(16, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def one_error_line(err: str, *needles: str) -> str:
    """The last stderr line, checked to be one `error:` line holding every needle, with no traceback."""
    assert "Traceback" not in err
    last = err.rstrip("\n").split("\n")[-1]
    assert last.startswith("error: "), err
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
