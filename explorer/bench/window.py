"""Window measurements: scrub latency through the real window (offscreen), alone and while a top-k
scan runs; start-up to the window painted and to the first projection; peak memory.

Run in a child process (`python -m explorer.bench.window MODE DATA SPLIT MODEL_JSON DEVICE ...`) so
that Qt, the platform and the memory figure belong to the measurement alone; MODEL_JSON holds the
model flags (`--model`, `--checkpoint`, ...) as `load_from_args` reads them; the child prints one
JSON object. Moments are wall-clock stamps (time.time()) so the parent can measure from the moment
it started the process, interpreter start-up included.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

T_PROCESS = time.time()  # as early as this module allows: the start-up clock
STAMPS: dict[str, float] = {}  # moment name -> time.time(), for start-up's breakdown
_KEEP: list[object] = []  # windows kept alive to the end: closing one with its worker busy aborts on a loaded machine


def _app_and_window(data: str, split: str, model_args: dict, device_name: str):
    """The window opened as `cnn-explorer` opens it (explorer.gui.app): the start-up window painted first,
    torch and the model loaded behind it, then the main window."""
    import argparse

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if "CNN_EXPLORER_SETTINGS" not in os.environ:  # the user's own settings stay as they are
        folder = tempfile.mkdtemp(prefix="cnn-explorer-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["CNN_EXPLORER_SETTINGS"] = os.path.join(folder, "bench.ini")
    from PySide6.QtWidgets import QApplication

    STAMPS["qt_imported"] = time.time()
    from explorer.gui.app import in_background, load_for_window, open_main_window, show_startup_window

    app = QApplication.instance() or QApplication([])
    args = argparse.Namespace(data=data, split=split, device=device_name, checkpoint=None)
    for key, value in model_args.items():
        setattr(args, key, tuple(value) if isinstance(value, list) else value)
    splash = show_startup_window(args)
    STAMPS["window_visible"] = time.time()

    def job(say):
        import torch  # noqa: F401  (stamped apart to show its share)

        STAMPS["torch_imported"] = time.time()
        loaded = load_for_window(args, say)
        STAMPS["model_loaded"] = time.time()
        return loaded

    outcome = in_background(job, splash)
    if outcome is None or not outcome[0]:
        raise RuntimeError(f"the model did not load: {outcome and outcome[1]}")
    splash.finish()
    loaded = outcome[1]
    window = open_main_window(loaded, args)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    window.repaint()  # painted now, synchronously: the window is on screen when this returns
    STAMPS["main_window_visible"] = time.time()
    return app, window, loaded.model


def _scrub_layers(model) -> list[tuple[str, int]]:
    """The first two layers of the window's model and their feature counts (conv1, conv2 for SeedNet)."""
    from explorer.core.graph import layers

    return [(lay.name, lay.channels) for lay in layers(model)[:2]]


def _wait(app, condition, timeout_s: float = 120.0) -> None:
    """Run the event loop until `condition()` holds, sleeping between events as app.exec() would: a loop
    that spins on processEvents() takes a whole core from the worker on a 2-core machine."""
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.perf_counter() + timeout_s
    tick = QTimer()
    tick.start(20)  # wakes the wait to check the clock even when no event comes
    try:
        while not condition():
            if time.perf_counter() > end:
                raise TimeoutError("the window did not show the expected result in time")
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    finally:
        tick.stop()


def _shows(window, layer: str, feature: int) -> bool:
    r = window.state.shown
    return r is not None and r.layer == layer and r.feature == feature


def _scrub_once(app, window, i: int, names: list[tuple[str, int]]) -> float:
    """One feature change (alternating the first two layers); ms until the projection view painted it."""
    layer, channels = names[i % len(names)]
    if window.state.layer != layer:
        choices = window.views["layer_and_feature"].pane
        choices.layer.setCurrentIndex(choices.layer.findData(layer))
        _wait(app, lambda: window.state.shown is not None and window.state.shown.layer == layer)
    feature = (window.state.feature + 1 + i % 7) % channels
    t0 = time.perf_counter()
    window.views["layer_and_feature"].pane.feature.setValue(feature)
    _wait(app, lambda: _shows(window, layer, feature))
    window.views["projection"].pane.views[
        0
    ].repaint()  # paint now, synchronously: the picture is on screen when this returns
    return (time.perf_counter() - t0) * 1000


def _percentiles(times: list[float], prefix: str) -> dict[str, float]:
    times = sorted(times)
    if not times:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p95_ms": None, f"{prefix}_changes": 0}
    return {
        f"{prefix}_p50_ms": round(statistics.median(times), 3),
        f"{prefix}_p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
        f"{prefix}_changes": len(times),
    }


@contextlib.contextmanager
def _fresh_scan_caches() -> Iterator[Callable[[], None]]:
    """A function that points $CNN_EXPLORER_CACHE (read as each scan runs) at a new empty folder, so the next
    scan runs in full: the bench must not measure a scan loaded from the cache. On the way out the folders
    are removed and the variable is restored."""
    before = os.environ.get("CNN_EXPLORER_CACHE")
    with contextlib.ExitStack() as folders:

        def fresh() -> None:
            folder = folders.enter_context(tempfile.TemporaryDirectory(prefix="bench-scan-"))
            os.environ["CNN_EXPLORER_CACHE"] = folder

        try:
            yield fresh
        finally:
            if before is None:
                os.environ.pop("CNN_EXPLORER_CACHE", None)
            else:
                os.environ["CNN_EXPLORER_CACHE"] = before


def scrub(data: str, split: str, model_args: dict, device: str, changes: int) -> dict[str, float]:
    """Milliseconds from a feature change in the selector until the projection view has painted it:
    alone, then while the window's top-k scan of the open images runs (changes counted only while
    it runs; a scan that ends is started again, never answered from the cache)."""
    app, window, model = _app_and_window(data, split, model_args, device)
    _wait(app, lambda: window.state.shown is not None)
    names = _scrub_layers(model)
    out = _percentiles([_scrub_once(app, window, i, names) for i in range(changes)], "scrub")
    during: list[float] = []
    scans = 0
    controller = window.controller
    _wait(app, lambda: controller.scanning is None)  # the look-up of an earlier scan, asked after the first view
    with _fresh_scan_caches() as fresh_scan_cache:
        while len(during) < changes:
            if controller.scanning is None:
                if scans >= 20:
                    break
                fresh_scan_cache()
                window.menu_actions["find_top_images"].trigger()  # as a click on Analyse > Find top images
                scans += 1
                _wait(app, lambda: controller.scanning is not None)
            t = _scrub_once(app, window, len(during), names)
            if controller.scanning is not None:  # the scan still ran when the picture was painted
                during.append(t)
        controller.cancel_scan()
        _wait(app, lambda: controller.scanning is None)  # the scan is over before its cache folder goes
    _KEEP.append(window)  # never closed: the process ends with os._exit once the figure is printed
    out.update(_percentiles(during, "scrub_during_scan"))
    out["scrub_during_scan_scans"] = scans
    return out


def startup(data: str, split: str, model_args: dict, device: str) -> dict[str, float]:
    """Moments (time.time()) from this process's start to the window painted and to the first projection
    shown; the parent measures each from the moment it spawned this process."""
    app, window, _model = _app_and_window(data, split, model_args, device)
    _wait(app, lambda: window.state.shown is not None)
    window.views["projection"].pane.views[0].repaint()
    STAMPS["first_projection"] = time.time()
    _KEEP.append(window)  # never closed: the process ends with os._exit once the figure is printed
    return {"process_started": T_PROCESS, **STAMPS}


def browse(data: str, split: str, model_args: dict, device: str) -> dict[str, float]:
    """Peak resident memory with a split open, scrolled through end to end and all predictions in."""
    app, window, _model = _app_and_window(data, split, model_args, device)
    _wait(app, lambda: window.state.images is not None and window.state.shown is not None, 600)
    n = len(window.state.images)
    view = window.views["images"].pane.list
    model = view.model()
    for frac in range(0, 101, 2):
        row = min(model.rowCount() - 1, frac * model.rowCount() // 100)
        view.scrollTo(model.index(row, 0))
        app.processEvents()
        view.viewport().repaint()
    _wait(app, lambda: int((window.views["images"].pane.model.predicted >= 0).sum()) >= n, 1800)
    _KEEP.append(window)  # never closed: the process ends with os._exit once the figure is printed
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_mb": round(peak_kb / 1024, 1), "browsed_images": n}


def main(argv: list[str]) -> int:
    mode, data, split, model_json, device, *rest = argv
    model_args = json.loads(model_json)
    if mode == "scrub":
        out = scrub(data, split, model_args, device, int(rest[0]))
    elif mode == "startup":
        out = startup(data, split, model_args, device)
    else:
        out = browse(data, split, model_args, device)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: the figure is printed, nothing is left to save


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
