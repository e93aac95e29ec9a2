"""The worker's part of the Synthesized view: optimize the features not cached, report every few steps.

Runs on the worker thread. Each feature's image is cached under (model fingerprint, layer,
feature, settings); `explorer.core.maximize` seeds each feature by itself, so a feature computed
in any batch is the same image, and a request only optimizes the features it lacks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import torch

from explorer.core.synthesis import MaximizeCancelled, feature_response, maximize
from explorer.export.maximize_figure import images_rgb8
from explorer.gui.messages import SynthesisImages, SynthesisRequest, SynthesisStopped

if TYPE_CHECKING:
    from explorer.gui.worker import Worker


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def synthesize(worker: Worker, req: SynthesisRequest) -> SynthesisImages | SynthesisStopped:
    t0 = time.perf_counter()
    s = req.settings
    key = (worker.fingerprint(), req.layer, s)
    cache = worker.synthesized
    missing = [f for f in req.features if (*key, f) not in cache]
    cached = len(req.features) - len(missing)

    def assemble(new: np.ndarray | None, new_values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        pictures, values = [], []
        for f in req.features:
            if f in missing and new is not None:
                i = missing.index(f)
                pictures.append(new[i])
                values.append(np.nan if new_values is None else new_values[i])
            else:
                picture, value = cache[(*key, f)]
                pictures.append(picture)
                values.append(value)
        return _frozen(np.stack(pictures)), _frozen(np.asarray(values, np.float32))

    def on_step(step: int, images: torch.Tensor) -> None:
        if step % max(1, req.every) and step != s.steps:
            return
        pictures, values = assemble(images_rgb8(images), None)
        worker.synthesis_progressed.emit(
            SynthesisImages(req.id, req.layer, req.features, s, step, s.steps, pictures, values, False, cached)
        )

    if missing:
        steps_done = [0]

        def progress(step: int, _total: int) -> None:
            steps_done[0] = step

        try:
            images = maximize(
                worker.model,
                req.layer,
                missing,
                **s.as_dict(),
                progress=progress,
                should_stop=lambda: worker.stop_synthesis.is_set() or worker.closing.is_set(),
                on_step=on_step,
            )
        except MaximizeCancelled:
            return SynthesisStopped(req.id, steps_done[0])
        new_values = feature_response(worker.model, images, req.layer, missing, s.objective).cpu().numpy()
        new = images_rgb8(images)
        if len(cache) + len(missing) > SYNTHESIS_CACHE_SIZE:
            cache.clear()  # rare: a plain dict dropped whole rather than a hand-made LRU
        for i, f in enumerate(missing):
            cache[(*key, f)] = (_frozen(new[i]), float(new_values[i]))
    pictures, values = assemble(None, None)
    elapsed = 1000.0 * (time.perf_counter() - t0)
    return SynthesisImages(
        req.id, req.layer, req.features, s, s.steps, s.steps, pictures, values, True, cached, elapsed
    )


SYNTHESIS_CACHE_SIZE = 4096  # features kept (a 32x32 image is 3 kB)
