"""The one shape every analysis has: a frozen request that computes its frozen figure.

    figure = request.compute(model, images, model_name="resnet18 (my.pt)")
    explorer.render.write(figure, "fig.pdf", dpi=200)    # or a view draws the figure itself

A request (`MapsRequest`, `OcclusionRequest`, `CamRequest`, ...) holds plain values: what the window
keeps and the command line parses, including anything extra its computation needs (the layer's
scan for `TopKRequest`, a snapshot file for `EvolutionRequest`). `kind` names the analysis in
menus, file names and messages. `compute` runs the torch work on `model` (its device) for the
dataset `images` and returns the request's figure: numpy arrays and plain values only, with the
request it came from as `figure.request`, so it may cross to the GUI thread and be drawn by a view
or a renderer without the model.

`progress(done, total)` is called as the work advances, and `should_stop()` is asked between
steps; an analysis that cannot report or stop accepts both and ignores them. To cancel one that
only reports, raise from `progress`. Problems with the request (a layer the model lacks, an image
out of range) raise `explorer.analyses.errors.AnalysisError` with one line naming the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import nn

    from explorer.core.images import ImageSet

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


@runtime_checkable
class Figure(Protocol):
    """What an analysis computes: numpy arrays and plain values, titled, with the request it answers."""

    @property
    def request(self) -> Analysis | None: ...

    @property
    def title(self) -> str: ...


@runtime_checkable
class Analysis(Protocol):
    """A frozen request for one analysis; `compute` is its only verb."""

    kind: ClassVar[str]

    @property
    def file_stem(self) -> str:
        """What a file of the figure is called by default, e.g. "conv2-occlusion-image5-f7"."""
        ...

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> Figure:
        """The figure this request asks for, computed on `model` for the dataset `images`."""
        ...
