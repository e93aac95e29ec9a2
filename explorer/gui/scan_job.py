"""The top-images scan as its own cancellable job on a second thread, beside the view worker.

Why a second thread: a scan takes seconds to minutes and views take milliseconds. Queued behind
the worker's latest-wins requests, a scan would freeze every view until it ended; cut into
chunks, it would need the core's merge step re-done in the GUI. Instead the ScanJob runs
`cached_scan` whole on its own QThread with a private copy of the model (made before either
thread starts; the core's forward pass keeps no state on the module), so the two threads share
nothing mutable and view requests keep running on the worker while the scan goes on.

Between batches the scan reports `scan_progressed(done, total)` (a queued signal) and checks a
threading.Event; Cancel and closing the window set it, so the scan stops within one batch. The
core writes the cache only after a completed scan, so a stopped scan leaves no file.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal, Slot
from torch import nn

from explorer.analyses.topk import crop_field
from explorer.core.datasets import cache_dir
from explorer.core.errors import ExplorerError
from explorer.core.graph import layers
from explorer.core.images import ImageSet
from explorer.core.receptive import field_size
from explorer.core.scan import ScanCancelled, TopK, cached_scan
from explorer.core.scan_file import ScanFileError, open_for
from explorer.gui.messages import Failure, next_request_id

OVERVIEW_TOP = 3  # patches per feature in the overview of a layer
OVERVIEW_SIDE = 48  # pixels a side at most of an overview patch (a whole layer's features are shown at once)


@dataclass(frozen=True, eq=False)
class ScanRequest:
    """Find each feature's top k images in `images`; `cached_only` just loads an earlier scan if any."""

    images: ImageSet
    k: int = 9
    layers: tuple[str, ...] = ()  # the layers to scan (empty: every layer of the model)
    batch_size: int = 256
    cached_only: bool = False
    from_file: str | None = None  # show this scan file (cnn-explorer scan --out) instead of scanning
    model: nn.Module | None = None  # the scan thread's copy of the model open when asked (None: the job's own)
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class ScanFinished:
    request_id: int
    source_key: str
    k: int
    count: int  # images scanned
    results: dict[str, TopK]
    sides: dict[str, int]  # each layer's receptive-field side in pixels
    overview: dict[str, np.ndarray]  # float32 [C, n, side, side, 3]: each feature's top n image patches
    from_cache: bool
    elapsed_s: float
    from_file: str | None = None


@dataclass(frozen=True)
class ScanNotice:
    """Something a running scan says on the way (e.g. a batch halved for lack of GPU memory)."""

    request_id: int
    message: str


@dataclass(frozen=True)
class ScanStopped:
    """The scan was cancelled (or, for `cached_only`, no earlier scan was found); nothing was cached."""

    request_id: int
    cached_only: bool


def overview_patches(images: ImageSet, top: TopK, side: int, n: int = OVERVIEW_TOP) -> np.ndarray:
    """float32 [C, n, s, s, 3]: the image patches of each feature's n best images.

    s is the field's side clipped to the picture and shrunk (box filter) to at most OVERVIEW_SIDE: at full size,
    three patches of each of a deep layer's 512 features (ResNet's last field is 435 pixels) took gigabytes.
    """
    n = min(n, top.indices.shape[1])
    side = min(side, images.size)
    out = min(side, OVERVIEW_SIDE)
    indices = top.indices[:, :n].reshape(-1)
    boxes = top.boxes[:, :n].reshape(-1, 4)
    tiles = np.zeros((len(indices), out, out, 3), np.uint8)
    for t, (i, box) in enumerate(zip(indices, boxes, strict=True)):
        tile = crop_field(images.image(int(i)), box, side)  # one picture at a time: no stack of the whole set
        if out < side:
            tile = np.asarray(Image.fromarray(tile).resize((out, out), Image.Resampling.BOX))
        tiles[t] = tile
    return (tiles.astype(np.float32) / 255.0).reshape(top.indices.shape[0], n, out, out, 3)


class ScanJob(QObject):
    """Runs one ScanRequest at a time on its thread; reports progress, the results, a stop or a failure."""

    scan_progressed = Signal(int, int)  # images done, images in all
    scan_finished = Signal(object)  # ScanFinished
    scan_stopped = Signal(object)  # ScanStopped
    scan_failed = Signal(object)  # Failure
    scan_noticed = Signal(str)  # e.g. a batch halved for lack of GPU memory

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # The scan thread's private copies (deep copies, traced) of the models scans were asked for,
        # made here on first use: nothing is shared with the worker, and none of it is done on the GUI
        # thread while the window opens. Held while the window's model is alive.
        self._copies: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()
        self.stop = threading.Event()  # set from the GUI thread, read between batches

    def _own_copy(self, model: nn.Module) -> nn.Module:
        mine = self._copies.get(model)
        if mine is None:
            mine = copy.deepcopy(model)
            layers(mine)  # traced once, here (graph.py lets other threads run their models meanwhile)
            self._copies.clear()  # one model's copy at a time
            self._copies[model] = mine
        return mine

    @Slot(object)
    def run(self, req: ScanRequest) -> None:
        t0 = time.perf_counter()
        should_stop = (lambda: True) if req.cached_only else self.stop.is_set
        try:
            model = req.model if req.model is not None else self.model
            # A look-up of an earlier scan only reads the weights (for their fingerprint): no copy for it.
            model = model if req.cached_only or req.from_file is not None else self._own_copy(model)
            if req.from_file is not None:
                results, from_cache = open_for(req.from_file, model, req.images), True
            else:
                names = list(req.layers) or [lay.name for lay in layers(model)]
                results, from_cache = cached_scan(
                    model, req.images, names, req.k, cache_dir() / "scans",
                    batch_size=req.batch_size, progress=self.scan_progressed.emit, should_stop=should_stop,
                    notice=self.scan_noticed.emit, merge_aside=False,  # the other core is the window's: scrubbing
                )  # fmt: skip
            sides = {layer: field_size(model, layer) for layer in results}
            overview = {layer: overview_patches(req.images, top, sides[layer]) for layer, top in results.items()}
        except ScanCancelled:
            self.scan_stopped.emit(ScanStopped(req.id, req.cached_only))
        except ScanFileError as exc:
            self.scan_failed.emit(Failure(req.id, "ScanRequest", str(exc)))
        except Exception as exc:  # the thread must survive anything a scan does
            message = str(exc) if isinstance(exc, ExplorerError) else f"{type(exc).__name__}: {exc}"
            self.scan_failed.emit(Failure(req.id, "ScanRequest", f"scan failed: {message}"))
        else:
            elapsed = time.perf_counter() - t0
            self.scan_finished.emit(
                ScanFinished(
                    req.id,
                    req.images.source_key,
                    req.k,
                    len(req.images),
                    results,
                    sides,
                    overview,
                    from_cache,
                    elapsed,
                    req.from_file,
                )
            )
