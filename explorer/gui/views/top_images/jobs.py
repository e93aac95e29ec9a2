"""The Top images view's job: the selected feature's top images cut to their receptive-field boxes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from explorer.analyses.colours import projection_rgb8
from explorer.core.images import ImageSet
from explorer.core.projection import project
from explorer.gui.imaging import field_tiles
from explorer.gui.messages import Job, Worker, ms_since, numpy_of


@dataclass(frozen=True, eq=False)
class TopPatchesRequest(Job):
    """One feature's top images (from a scan) cut to their receptive-field boxes, with projections."""

    priority = 6
    one_thread = True
    images: ImageSet
    layer: str
    feature: int
    indices: tuple[int, ...]
    boxes: np.ndarray  # int64 [k, 4] (top, left, bottom, right), exclusive ends
    side: int  # the side of the layer's receptive field in pixels

    def run(self, worker: Worker) -> TopPatchesResult:
        t0 = time.perf_counter()
        empty = np.zeros((0, self.side, self.side, 3), np.float32)
        if not self.indices:
            return TopPatchesResult(self.id, self.layer, self.feature, (), empty, empty, ms_since(t0))
        x = self.images.tensor(list(self.indices), worker.device)
        p = numpy_of(project(worker.model, x, self.layer, self.feature, method="deconvnet", keep="max")[:, 0])
        patches = field_tiles(self.images.images(list(self.indices)), self.boxes, self.side)
        projections = field_tiles(projection_rgb8(p), self.boxes, self.side)
        return TopPatchesResult(self.id, self.layer, self.feature, self.indices, patches, projections, ms_since(t0))


@dataclass(frozen=True, eq=False)
class TopPatchesResult:
    request_id: int
    layer: str
    feature: int
    indices: tuple[int, ...]
    patches: np.ndarray  # float32 [k, side, side, 3]: the image under each box, in [0, 1]
    projections: np.ndarray  # float32 [k, side, side, 3]: deconvnet, keep="max", as the topk figure's tiles
    elapsed_ms: float
