"""The Feature across images view's job: the feature's projection for a page of images."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from explorer.core.images import ImageSet
from explorer.gui.messages import Job, ProjectionOptions, Worker, ms_since, numpy_of


@dataclass(frozen=True, eq=False)
class PageRequest(Job):
    """The feature's projection for a page of images; after the selection's pass and the analyses that follow it."""

    priority = 7
    one_thread = True
    images: ImageSet
    layer: str
    feature: int
    options: ProjectionOptions = field(default_factory=ProjectionOptions)
    page: tuple[int, ...] = ()

    def run(self, worker: Worker) -> PageResult:
        t0 = time.perf_counter()
        if not self.page:
            n = self.images.size
            empty = np.zeros((0, 3, n, n), np.float32)
            return PageResult(self.id, self.layer, self.feature, (), np.zeros((0, n, n, 3), np.uint8), empty, 0.0)
        o = self.options.normalised()

        def stop() -> None:  # between layers: a page of photos is many forward passes long
            worker.check_stop(self.id, "page: stopped")

        projector = worker.cache.projector(self.images, self.page, self.layer, stop=stop)
        p = numpy_of(projector.project(self.feature, method=o.method, unpool=o.unpool, keep=o.keep, stop=stop)[:, 0])
        failures = self.images.failures  # decoded above, on this thread
        for i, index in enumerate(self.page):
            if index in failures:
                p[i] = 0.0  # a file that could not be read has no picture to project: flat grey, not colours of nothing
        images = self.images.images(list(self.page))
        return PageResult(self.id, self.layer, self.feature, self.page, images, p, ms_since(t0))


@dataclass(frozen=True, eq=False)
class PageResult:
    request_id: int
    layer: str
    feature: int
    page: tuple[int, ...]
    page_images: np.ndarray  # uint8 [n, S, S, 3] (S: the model's input size)
    page_projections: np.ndarray  # float32 [n, 3, H, W]
    elapsed_ms: float
