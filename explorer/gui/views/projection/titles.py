"""Each projection titled by what was computed for its layer, not by the choice as made: where no max-pool lies
below the layer there is nothing to unpool, and the deconvnet's unpooling is named under a methods comparison."""

from __future__ import annotations

import numpy as np

from explorer.core.graph import Layer
from explorer.gui.messages import ProjectionOptions, projection_variants


def computed_title(method: str, unpool: str, layer: Layer) -> str:
    """What a projection by `method` and `unpool` down from `layer` computed, in a view's title."""
    if not layer.pooled:
        return f"{method}, no pooling below"  # switches and fill: the same pixels
    return f"{method}, {unpool}"


def computed_projections(
    projections: tuple[tuple[str, np.ndarray], ...], options: ProjectionOptions, layer: Layer
) -> tuple[tuple[str, np.ndarray], ...]:
    """`projections` (as the pass for `options`, fitted to `layer`, titled them) retitled by what each computed;
    two that computed the same (switches and fill with no pooling below) are shown once. Projections of other
    options (a newer pass is on its way) keep their titles."""
    variants = projection_variants(options.for_layer(layer.fill))
    if [title for title, _, _ in variants] != [title for title, _ in projections]:
        return projections
    shown: dict[str, np.ndarray] = {}
    for (_, method, unpool), (_, pixels) in zip(variants, projections, strict=True):
        shown.setdefault(computed_title(method, unpool, layer), pixels)
    return tuple(shown.items())
