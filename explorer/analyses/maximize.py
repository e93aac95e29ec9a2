"""The synthesized-images figure: what each feature of a layer wants to see, one tile per feature.

MaximizeRequest is what the window's Synthesized view holds and `cnn-explorer export maximize`
parses; its compute runs `explorer.core.maximize`; maximize_figure turns images the view already
has into the same GridFigure, so both write the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from explorer.analyses.errors import AnalysisError
from explorer.analyses.grid import GridFigure
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.core.graph import model_graph
from explorer.core.images import ImageSet
from explorer.core.synthesis import MaximizeSettings, feature_response, maximize


@dataclass(frozen=True)
class MaximizeRequest:
    """Which layer and features (None: all), and the optimization's settings."""

    kind: ClassVar[str] = "maximize"

    layer: str
    features: tuple[int, ...] | None = None
    settings: MaximizeSettings = field(default_factory=MaximizeSettings)
    columns: int | None = None

    @property
    def file_stem(self) -> str:
        which = "all" if self.features is None or len(self.features) > 1 else f"feature{self.features[0]}"
        return f"{self.layer}-synthesized-{which}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet | None = None,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> GridFigure:
        """Run the optimization for the request's features and lay the images out as a figure.

        `images` is not used: the pictures start from noise. progress(step, steps) and should_stop as
        explorer.core.maximize takes them.
        """
        info = model_graph(model).layer(self.layer)
        features = list(range(info.channels)) if self.features is None else list(self.features)
        if not features:
            raise AnalysisError("--features: selects no feature")
        settings: dict[str, Any] = self.settings.as_dict()
        pictures = maximize(model, self.layer, features, **settings, progress=progress, should_stop=should_stop)
        values = feature_response(model, pictures, self.layer, features, self.settings.objective).cpu().tolist()
        return maximize_figure(self, features, images_rgb8(pictures), values, model_name=model_name)


def images_rgb8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 [F, H, W, 3] from float images [F, 3, H, W] in [0, 1] (rounded, as every tile is)."""
    arr = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    return np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def settings_caption(s: MaximizeSettings) -> str:
    blur = f"blur sigma {s.blur_sigma:g} every {s.blur_every} steps" if s.blur_every else "no blur"
    target = "the centre unit of its map" if s.objective == "unit" else "the mean of its map"
    return (
        f"Each tile is an input optimized to drive one feature's pre-activation at {target} "
        f"({s.steps} Adam steps, lr {s.lr:g}, {s.param} parameterization, L2 decay {s.l2:g}, {blur}, "
        f"jitter {s.jitter} px, seed {s.seed}); the label gives the feature and the post-ReLU value reached."
    )


def maximize_figure(
    request: MaximizeRequest,
    features: Sequence[int],
    pictures: np.ndarray,
    values: Sequence[float],
    *,
    model_name: str,
) -> GridFigure:
    """GridFigure from uint8 pictures [F, H, W, 3] of `features` and the activations they reached."""
    labels = tuple(f"{f}: {v:.2f}" for f, v in zip(features, values, strict=True))
    columns = request.columns or min(8, max(1, len(labels)))
    return GridFigure(
        title=f"{request.layer}: what each feature wants to see (activation maximization), {model_name}",
        caption=settings_caption(request.settings),
        tiles=tuple(pictures),
        labels=labels,
        group=1,
        columns=columns,
        request=request,
    )
