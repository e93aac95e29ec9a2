"""Every analysis has one shape: a frozen request with a kind and `compute(model, images, *, ...)`, giving a
figure that knows its request and that a renderer draws."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from explorer.analyses import ANALYSES
from explorer.analyses.protocol import Analysis, Figure
from explorer.core.synthesis import MaximizeSettings

SMALL = {  # one cheap request of each kind, on the conftest's SeedNet and eight images
    "maps": {"layer": "conv1", "image": 1},
    "projections": {"layer": "conv2", "image": 2, "features": (0, 5)},
    "feature": {"layer": "conv1", "feature": 3, "images": (0, 4)},
    "topk": {"layer": "conv1", "features": (1,), "k": 2},
    "maxact": {"layer": "conv2", "features": (7,), "images": (0, 1, 2)},
    "occlusion": {"image": 0, "layer": "conv1", "feature": 1, "size": 16, "stride": 16},
    "evolution": None,  # needs snapshot files: tests/analyses/test_experiments.py
    "invariance": {"image": 0, "transform": "translate", "layers": ("conv1",), "values": (0.0, 2.0)},
    "backprop": {"layer": "conv2", "image": 1, "channel": 0, "row": 3, "col": 3},
    "maximize": {"layer": "conv1", "features": (2,), "settings": MaximizeSettings(steps=2)},
    "cam": {"layer": None, "image": 3},
    "sanity": {"images": (0,), "depth": 1, "methods": ("gradient",)},
}
FILE_STEMS = {  # as the window has always named the files
    "maps": "conv1-maps-image1",
    "projections": "conv2-projections-image2",
    "feature": "conv1-feature3-across-2",
    "topk": "conv1-top2",
    "maxact": "conv2-maxact",
    "occlusion": "conv1-occlusion-image0-f1",
    "invariance": "invariance-translate-image0",
    "backprop": "conv2-backprop-image1-c0-r3-c3",
    "maximize": "conv1-synthesized-feature2",
}


def test_every_kind_is_listed_once_with_its_own_name():
    assert set(ANALYSES) == set(SMALL)
    for kind, cls in ANALYSES.items():
        assert cls.kind == kind
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "kind" not in {f.name for f in dataclasses.fields(cls)}  # a class constant, not a field


@pytest.mark.parametrize("kind", sorted(ANALYSES))
def test_compute_has_the_one_signature(kind):
    params = inspect.signature(ANALYSES[kind].compute).parameters
    assert list(params)[:3] == ["self", "model", "images"]
    keywords = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(keywords) == {"model_name", "progress", "should_stop"}
    assert [keywords[n].default for n in ("model_name", "progress", "should_stop")] == ["", None, None]


@pytest.mark.parametrize("kind", [k for k, v in SMALL.items() if v is not None])
def test_the_figure_knows_its_request_and_has_a_renderer(kind, model, dataset):
    from explorer.render.registry import RENDERERS

    request = ANALYSES[kind](**SMALL[kind])
    assert isinstance(request, Analysis)
    calls: list[tuple[int, int]] = []
    figure = request.compute(
        model, dataset, model_name="tiny", progress=lambda d, t: calls.append((d, t)), should_stop=lambda: False
    )
    assert isinstance(figure, Figure) and figure.request is request
    assert "tiny" in figure.title
    assert type(figure) in RENDERERS
    if kind in FILE_STEMS:
        assert request.file_stem == FILE_STEMS[kind]
