"""Pacing the window's scans from the test side: the engine call the scan job makes, wrapped."""

from __future__ import annotations

import time

from explorer.gui import scan_job


def pace_scans(monkeypatch, after_batch) -> list[int]:
    """Wrap the engine call the scan job makes: after each batch, on the scan thread, the job reports it,
    the batch is recorded and `after_batch(done, should_stop)` runs. Returns the record of finished batches."""
    real = scan_job.cached_scan
    finished: list[int] = []

    def paced(*args, progress, should_stop, **kwargs):
        def after(done: int, total: int) -> None:
            progress(done, total)
            finished.append(done)
            after_batch(done, should_stop)

        return real(*args, progress=after, should_stop=should_stop, **kwargs)

    monkeypatch.setattr(scan_job, "cached_scan", paced)
    return finished


def until_stopped(should_stop, timeout: float = 10.0) -> None:
    """Hold the scan thread until the job tells its scan to stop (Cancel, closing) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(0.005)
