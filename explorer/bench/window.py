"""Window measurements: scrub latency through the real window (offscreen), start-up, peak memory.

Run in a child process (`python -m explorer.bench.window MODE ...`) so that Qt, the platform and
the memory figure belong to the measurement alone; the child prints one JSON object.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time

T_PROCESS = time.perf_counter()  # as early as this module allows: the start-up clock


def _app_and_window(data: str, split: str, checkpoint: str | None, device_name: str):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("CNN_EXPLORER_SETTINGS", os.path.join(tempfile.mkdtemp(), "bench.ini"))
    from PySide6.QtWidgets import QApplication

    from explorer.core.checkpoint import load_model
    from explorer.core.device import resolve_device
    from explorer.gui.main_window import MainWindow
    from explorer.gui.settings import open_settings

    app = QApplication.instance() or QApplication([])
    device = resolve_device(device_name)
    model = load_model(checkpoint, device)
    window = MainWindow(model, device, open_settings(), source=data, split=split)
    window.resize(1280, 800)
    window.show()
    return app, window


def _wait(app, condition, timeout_s: float = 120.0) -> None:
    end = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError("the window did not show the expected result in time")
        app.processEvents()


def _shows(window, layer: str, feature: int) -> bool:
    r = window.shown
    return r is not None and r.layer == layer and r.feature == feature and r.request_id == window.shown_id


def scrub(data: str, split: str, checkpoint: str | None, device: str, changes: int) -> dict[str, float]:
    """Milliseconds from a feature change in the selector until the projection view has painted it."""
    app, window = _app_and_window(data, split, checkpoint, device)
    _wait(app, lambda: window.shown is not None)
    times = []
    view = window.projection.views[0]
    for i in range(changes):
        layer = "conv1" if i % 2 == 0 else "conv2"
        if window.state.layer != layer:
            window.layer_select.layer.setCurrentIndex(window.layer_select.layer.findData(layer))
            _wait(app, lambda layer=layer: window.shown is not None and window.shown.layer == layer)
        feature = (window.state.feature + 1 + i % 7) % (32 if layer == "conv1" else 64)
        t0 = time.perf_counter()
        window.layer_select.feature.setValue(feature)
        _wait(app, lambda layer=layer, feature=feature: _shows(window, layer, feature))
        view.repaint()  # paint now, synchronously: the picture is on screen when this returns
        times.append((time.perf_counter() - t0) * 1000)
    window.close()
    times.sort()
    return {
        "scrub_p50_ms": round(statistics.median(times), 3),
        "scrub_p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
        "scrub_changes": len(times),
    }


def startup(data: str, split: str, checkpoint: str | None, device: str) -> dict[str, float]:
    """Seconds from this process's start to the first projection shown (the parent adds its spawn time)."""
    app, window = _app_and_window(data, split, checkpoint, device)
    _wait(app, lambda: window.shown is not None)
    window.projection.views[0].repaint()
    elapsed = time.perf_counter() - T_PROCESS
    window.close()
    return {"startup_in_process_s": elapsed}


def browse(data: str, split: str, checkpoint: str | None, device: str) -> dict[str, float]:
    """Peak resident memory with a split open, scrolled through end to end and all predictions in."""
    app, window = _app_and_window(data, split, checkpoint, device)
    _wait(app, lambda: window.images is not None and window.shown is not None, 600)
    n = len(window.images)
    view = window.browser.list
    model = view.model()
    for frac in range(0, 101, 2):
        row = min(model.rowCount() - 1, frac * model.rowCount() // 100)
        view.scrollTo(model.index(row, 0))
        app.processEvents()
        view.viewport().repaint()
    _wait(app, lambda: int((window.browser.model.predicted >= 0).sum()) >= n, 1800)
    window.close()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": round(peak_kb / 1024, 1), "browsed_images": n}


def main(argv: list[str]) -> int:
    mode, data, split, checkpoint, device, *rest = argv
    ckpt = None if checkpoint == "-" else checkpoint
    if mode == "scrub":
        out = scrub(data, split, ckpt, device, int(rest[0]))
    elif mode == "startup":
        out = startup(data, split, ckpt, device)
    else:
        out = browse(data, split, ckpt, device)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: the figure is printed, nothing is left to save


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
