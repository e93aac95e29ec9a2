"""The worker's part of the Synthesized view: optimize the features not cached, report every few steps.

Runs on the worker thread. Each feature's image is cached under (model fingerprint, layer,
feature, settings); `explorer.core.maximize` seeds each feature by itself, so a feature computed
in any batch is the same image, and a request only optimizes the features it lacks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.analyses.maximize import images_rgb8
from explorer.core.scan import model_fingerprint
from explorer.core.synthesis import MaximizeCancelled, MaximizeSettings, feature_response, maximize
from explorer.gui.messages import Job, Worker

SYNTHESIS_CACHE_SIZE = 4096  # features kept (a 32x32 image is 3 kB)


@dataclass(frozen=True, eq=False)
class SynthesisRequest(Job):
    """Synthesize `features` of `layer` (the Synthesized view); intermediate images every `every` steps.

    A newer SynthesisRequest of the view stops a running one at its next step (latest wins).
    """

    priority = 4
    one_thread = True
    stops_running = True
    depends_on = frozenset({"model"})  # not on the images
    layer: str
    features: tuple[int, ...]
    settings: MaximizeSettings = field(default_factory=MaximizeSettings)
    every: int = 8

    def run(self, worker: Worker) -> SynthesisImages | SynthesisStopped:
        return synthesize(worker, self)


@dataclass(frozen=True, eq=False)
class SynthesisImages:
    """Synthesized images of a SynthesisRequest: intermediate (step < steps) or final (`done`).

    images: uint8 [F, H, W, 3]; values: float32 [F], the post-ReLU response each image reached
    (final only; NaN while optimizing); cached: how many features came from the cache.
    """

    request_id: int
    layer: str
    features: tuple[int, ...]
    settings: MaximizeSettings
    step: int
    steps: int
    images: np.ndarray
    values: np.ndarray
    done: bool
    cached: int = 0
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class SynthesisStopped:
    """A synthesis stopped before its last step (a newer one, or Cancel); nothing was cached."""

    request_id: int
    step: int


def fingerprint(worker: Worker) -> str:
    """The open model's fingerprint (the cache's key), taken again whenever the model is another: kept from the
    previous model, a switch served that model's images as the new one's."""
    taken = worker.memo.get("fingerprint")
    if not isinstance(taken, tuple) or taken[0] is not worker.model:
        taken = (worker.model, model_fingerprint(worker.model))
        worker.memo["fingerprint"] = taken
    return taken[1]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def synthesize(worker: Worker, req: SynthesisRequest) -> SynthesisImages | SynthesisStopped:
    t0 = time.perf_counter()
    s = req.settings
    key = (fingerprint(worker), req.layer, s)
    cache: dict[tuple[object, ...], tuple[np.ndarray, float]] = worker.memo.setdefault("synthesized", {})  # type: ignore[assignment]
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
        worker.progressed.emit(
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
                should_stop=lambda: worker.should_stop(req.id),
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
