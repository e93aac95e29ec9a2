"""Atomic file writes: a temporary file beside the target, then a rename.

A failed write leaves the previous file as it was and no temporary file behind, whether it fails
by an error, Ctrl-C (SIGINT) or SIGTERM. Only regular files are replaced, and never a read-only one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from explorer.core.paths import temp_prefix, writable_target_problem

# Temporary files being written right now, by any thread: a SIGTERM removes them before the process ends.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.RLock()  # re-entrant: the handler runs on the main thread, which may hold it


def _on_sigterm(signum: int, _frame: object) -> None:
    with _LIVE_LOCK:
        for tmp in list(_LIVE):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _LIVE.clear()
    # Then end as SIGTERM would have: default action, so the exit status still says "terminated".
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def clean_up_on_sigterm() -> None:
    """Make SIGTERM remove unfinished temporary files (as SIGINT does); a no-op off the main thread
    or where the program installed its own handler."""
    if threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)


def _umask() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # not thread-safe, hence only where /proc is missing
    os.umask(mask)
    return mask


def _final_mode(target: Path) -> int:
    """The mode a plain write would give: the old file's, else 0o666 less the umask (mkstemp makes 0o600)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(file)` on a temporary file beside `path`, then rename it to `path`."""
    target = Path(path)
    problem = writable_target_problem(target)
    if problem:
        raise PermissionError(errno.EACCES, problem, os.fspath(target))
    clean_up_on_sigterm()
    with _LIVE_LOCK:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent)
        _LIVE.add(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(tmp)
    return target


def reason(exc: BaseException) -> str:
    """A short reason for a failed write: the OS's words when there are some."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
