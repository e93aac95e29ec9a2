"""The grid figures from request.compute(model, images): the right tiles, labels and words, against plain re-derivations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.analyses import (
    AnalysisError,
    FeatureRequest,
    GridFigure,
    GridRequest,
    MapsRequest,
    MaxActRequest,
    ProjectionsRequest,
    TopKRequest,
    grid_request,
)
from explorer.analyses.colours import PROJECTION_RULE, maps_rgb8, projection_rgb8
from explorer.analyses.grid import RELATIVE_SCALE
from explorer.analyses.topk import crop_field
from explorer.core.images import to_tensor
from explorer.core.projection import activations, project
from explorer.core.receptive import field_size
from explorer.core.scan import scan_top_k


def _maps_by_hand(model, x, layer):
    a1 = F.relu(model.conv1(x))
    return a1 if layer == "conv1" else F.relu(model.conv2(F.max_pool2d(a1, 2)))


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_maps_are_every_activation_map_on_one_scale(model, dataset, layer):
    request = MapsRequest(layer, image=5)
    data = request.compute(model, dataset, model_name="M")
    assert data.request is request
    with torch.no_grad():
        maps = _maps_by_hand(model, dataset.tensor([5]), layer)[0].numpy()
    assert len(data.tiles) == maps.shape[0] and data.group == 1
    np.testing.assert_array_equal(np.stack(data.tiles), maps_rgb8(maps))
    assert data.labels == tuple(f"f{c}" for c in range(maps.shape[0]))
    assert data.title.startswith(f"M, {layer}: activation maps of image #5 ship")
    assert f"{maps.max():.4g}" in data.caption


def test_projections_state_method_unpooling_and_rule(model, dataset):
    request = ProjectionsRequest("conv2", image=1, features=(3, 0, 9), method="guided", keep="max")
    data = request.compute(model, dataset, model_name="M")
    p = project(model, dataset.tensor([1]), "conv2", [3, 0, 9], method="guided", keep="max")[0].numpy()
    np.testing.assert_array_equal(np.stack(data.tiles), projection_rgb8(p))
    assert data.labels == ("f3", "f0", "f9")
    assert "guided backpropagation projections, switches unpooling, strongest activation only" in data.title
    assert PROJECTION_RULE in data.caption


def test_feature_pairs_each_image_with_its_projection(model, dataset):
    data = FeatureRequest("conv1", feature=7, images=(6, 2), unpool="fill").compute(model, dataset)
    assert data.group == 2 and data.labels == ("#6 ship", "#2 cat")
    np.testing.assert_array_equal(data.tiles[0], dataset.image(6))
    p = project(model, dataset.tensor([2]), "conv1", [7])[0, 0].numpy()
    np.testing.assert_array_equal(data.tiles[3], projection_rgb8(p))
    assert "no pooling below conv1" in data.title  # conv1 projections never unpool


def test_feature_defaults_to_the_first_images(model, dataset):
    data = FeatureRequest("conv2", feature=0).compute(model, dataset)
    assert len(data.labels) == len(dataset)  # fewer than 16 images: all of them


def test_maxact_picks_each_features_strongest_image(model, dataset):
    images = (7, 1, 4, 2)
    data = MaxActRequest("conv2", images=images, features=(0, 5, 63)).compute(model, dataset)
    with torch.no_grad():
        peaks = [_maps_by_hand(model, dataset.tensor([i]), "conv2")[0].amax(dim=(1, 2)) for i in images]
    for cell, f in enumerate((0, 5, 63)):
        values = [float(p[f]) for p in peaks]
        best = images[int(np.argmax(values))]
        assert data.labels[cell].splitlines() == [f"f{f}", f"#{best} {dataset.caption(best)}"]
        np.testing.assert_array_equal(data.tiles[2 * cell], dataset.image(best))


def test_topk_pairs_patches_with_max_projections_in_the_same_box(model, dataset):
    top = scan_top_k(model, dataset, ["conv2"], 3)["conv2"]
    data = TopKRequest("conv2", features=(4, 11), k=3, top_k=top).compute(model, dataset)
    assert data.group == 2 and data.columns == 3 and len(data.labels) == 6
    size = field_size(model, "conv2")
    assert size == 14 and field_size(model, "conv1") == 5
    for cell in range(6):
        f, j = (4, 11)[cell // 3], cell % 3
        index = int(top.indices[f, j])
        box = top.boxes[f, j]
        patch, projection = data.cell_tiles(cell)
        assert patch.shape == projection.shape == (size, size, 3)
        np.testing.assert_array_equal(patch, crop_field(dataset.image(index), box, size))
        p = project(model, to_tensor(dataset.images([index])), "conv2", [f], keep="max")[0, 0].numpy()
        np.testing.assert_array_equal(projection, crop_field(projection_rgb8(p), box, size))
        assert data.labels[cell].splitlines()[0] == f"f{f}"
    assert "strongest activation only" in data.title


def test_crop_field_pads_where_the_field_leaves_the_picture():
    picture = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    inside = crop_field(picture, np.array([2, 3, 7, 8]), 5)
    np.testing.assert_array_equal(inside, picture[2:7, 3:8])
    corner = crop_field(picture, np.array([0, 0, 3, 4]), 5)  # lost 2 rows above and 1 column to the left
    np.testing.assert_array_equal(corner[2:, 1:], picture[0:3, 0:4])
    assert set(np.unique(corner[:2])) <= {200, 235} and set(np.unique(corner[:, 0])) <= {200, 235}
    end = crop_field(picture, np.array([5, 6, 8, 8]), 5)  # lost rows and columns past the end
    np.testing.assert_array_equal(end[:3, :2], picture[5:8, 6:8])


def test_topk_refuses_more_images_than_the_scan_holds(model, dataset):
    top = scan_top_k(model, dataset, ["conv1"], 2)["conv1"]
    with pytest.raises(AnalysisError, match="k 5: the scan holds only the top 2"):
        TopKRequest("conv1", k=5, top_k=top).compute(model, dataset)


def test_topk_scans_the_images_when_no_scan_is_given(model, dataset):
    request = TopKRequest("conv1", features=(2,), k=2)
    top = scan_top_k(model, dataset, ["conv1"], 2)["conv1"]
    given = TopKRequest("conv1", features=(2,), k=2, top_k=top)
    assert request == given  # the scan is not part of what the request asks for
    a, b = request.compute(model, dataset), given.compute(model, dataset)
    assert all(np.array_equal(x, y) for x, y in zip(a.tiles, b.tiles, strict=True))


@pytest.mark.parametrize(
    ("kind", "kwargs", "message"),
    [
        ("heatmap", {}, "unknown figure 'heatmap': choose one of maps, projections, feature, topk, maxact"),
        ("feature", {"method": "guided", "unpool": "fill"}, "belongs to the deconvnet"),
        ("maps", {"columns": 0}, "columns 0"),
        ("topk", {"k": 0}, "k 0: must be at least 1"),
    ],
)
def test_bad_requests(kind, kwargs, message):
    with pytest.raises(AnalysisError, match=message):
        grid_request(kind, "conv1", **kwargs)


def test_grid_request_builds_the_kinds_class():
    for kind, cls in (("maps", MapsRequest), ("topk", TopKRequest), ("maxact", MaxActRequest)):
        request = grid_request(kind, "conv2", features=[3, 1])
        assert type(request) is cls and request.kind == kind and request.features == (3, 1)
    assert MapsRequest("conv1") != ProjectionsRequest("conv1")  # the kind is part of a request's identity
    with pytest.raises(TypeError, match="base of the grid kinds"):
        GridRequest("conv1")


def test_a_figure_too_big_is_refused_before_any_work(model, dataset):
    with pytest.raises(AnalysisError, match=r"feature figure of 600 cells: .* choose fewer images \(--images\)"):
        FeatureRequest("conv1", images=tuple(i % 8 for i in range(600))).compute(model, dataset)
    with pytest.raises(AnalysisError, match=r"topk figure of 1,024 cells: .* choose fewer features x k"):
        TopKRequest("conv2", features=tuple(range(64)) * 2, k=9).compute(model, dataset)  # k is capped at 8 images


def test_a_layer_the_model_lacks_is_named_with_the_valid_ones(model, dataset):
    with pytest.raises(AnalysisError, match=r"layer 'conv3': choose one of conv1, conv2"):
        MapsRequest("conv3").compute(model, dataset)


def test_out_of_range_selections(model, dataset):
    with pytest.raises(AnalysisError, match=r"feature 32 is out of range 0\.\.31"):
        FeatureRequest("conv1", feature=32).compute(model, dataset)
    with pytest.raises(AnalysisError, match=r"image 8 is out of range 0\.\.7"):
        MapsRequest("conv1", image=8).compute(model, dataset)


def test_maps_carry_their_shared_scale_and_projections_their_relative_one(model, dataset):
    data = MapsRequest("conv1", image=0).compute(model, dataset)
    vmax = float(activations(model, dataset.tensor([0]), "conv1").max())
    assert data.scale is not None and data.scale.kind == "viridis"
    np.testing.assert_allclose((data.scale.low, data.scale.high), (0.0, vmax), rtol=1e-6)
    assert ProjectionsRequest("conv1", image=0).compute(model, dataset).scale == RELATIVE_SCALE


def test_grid_figure_is_frozen_and_checked():
    tile = np.zeros((4, 4, 3), dtype=np.uint8)
    data = GridFigure("t", "c", (tile, tile), ("a", "b"))
    assert data.request is None  # put together by hand
    assert not data.tiles[0].flags.writeable
    tile[0, 0, 0] = 9
    assert data.tiles[0][0, 0, 0] == 0  # a copy, not a view of the caller's array
    with pytest.raises(ValueError, match="do not fill"):
        GridFigure("t", "c", (tile,), ("a", "b"))
    with pytest.raises(ValueError, match=r"uint8 \[h, w, 3\]"):
        GridFigure("t", "c", (np.zeros((4, 4)),), ("a",))
