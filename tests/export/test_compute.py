"""FigureData from (model, images, request): the right tiles, labels and words, against plain re-derivations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.core.images import to_tensor
from explorer.core.projection import project
from explorer.core.scan import scan_top_k
from explorer.export import ExportError, FigureData, FigureRequest, compute_figure
from explorer.export.normalise import PROJECTION_RULE, maps_rgb8, projection_rgb8
from explorer.export.topk import crop_field, field_size


def _maps_by_hand(model, x, layer):
    a1 = F.relu(model.conv1(x))
    return a1 if layer == "conv1" else F.relu(model.conv2(F.max_pool2d(a1, 2)))


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_maps_are_every_activation_map_on_one_scale(model, dataset, layer):
    data = compute_figure(model, dataset, FigureRequest("maps", layer, image=5), model_name="M")
    with torch.no_grad():
        maps = _maps_by_hand(model, dataset.tensor([5]), layer)[0].numpy()
    assert len(data.tiles) == maps.shape[0] and data.group == 1
    np.testing.assert_array_equal(np.stack(data.tiles), maps_rgb8(maps))
    assert data.labels == tuple(f"f{c}" for c in range(maps.shape[0]))
    assert data.title.startswith(f"M, {layer}: activation maps of image #5 ship")
    assert f"{maps.max():.4g}" in data.caption


def test_projections_state_method_unpooling_and_rule(model, dataset):
    request = FigureRequest("projections", "conv2", image=1, features=(3, 0, 9), method="guided", keep="max")
    data = compute_figure(model, dataset, request, model_name="M")
    p = project(model, dataset.tensor([1]), "conv2", [3, 0, 9], method="guided", keep="max")[0].numpy()
    np.testing.assert_array_equal(np.stack(data.tiles), projection_rgb8(p))
    assert data.labels == ("f3", "f0", "f9")
    assert "guided backpropagation projections, switches unpooling, strongest activation only" in data.title
    assert PROJECTION_RULE in data.caption


def test_feature_pairs_each_image_with_its_projection(model, dataset):
    data = compute_figure(model, dataset, FigureRequest("feature", "conv1", feature=7, images=(6, 2), unpool="fill"))
    assert data.group == 2 and data.labels == ("#6 ship", "#2 cat")
    np.testing.assert_array_equal(data.tiles[0], dataset.image(6))
    p = project(model, dataset.tensor([2]), "conv1", [7])[0, 0].numpy()
    np.testing.assert_array_equal(data.tiles[3], projection_rgb8(p))
    assert "no pooling below conv1" in data.title  # conv1 projections never unpool


def test_feature_defaults_to_the_first_images(model, dataset):
    data = compute_figure(model, dataset, FigureRequest("feature", "conv2", feature=0))
    assert len(data.labels) == len(dataset)  # fewer than 16 images: all of them


def test_maxact_picks_each_features_strongest_image(model, dataset):
    images = (7, 1, 4, 2)
    data = compute_figure(model, dataset, FigureRequest("maxact", "conv2", images=images, features=(0, 5, 63)))
    with torch.no_grad():
        peaks = [_maps_by_hand(model, dataset.tensor([i]), "conv2")[0].amax(dim=(1, 2)) for i in images]
    for cell, f in enumerate((0, 5, 63)):
        values = [float(p[f]) for p in peaks]
        best = images[int(np.argmax(values))]
        assert data.labels[cell].splitlines() == [f"f{f}", f"#{best} {dataset.caption(best)}"]
        np.testing.assert_array_equal(data.tiles[2 * cell], dataset.image(best))


def test_topk_pairs_patches_with_max_projections_in_the_same_box(model, dataset):
    top = scan_top_k(model, dataset, ["conv2"], 3)["conv2"]
    data = compute_figure(model, dataset, FigureRequest("topk", "conv2", features=(4, 11), k=3), top_k=top)
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
    with pytest.raises(ExportError, match="k 5: the scan holds only the top 2"):
        compute_figure(model, dataset, FigureRequest("topk", "conv1", k=5), top_k=top)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "heatmap"}, "unknown figure 'heatmap'"),
        ({"kind": "feature", "method": "guided", "unpool": "fill"}, "belongs to the deconvnet"),
        ({"kind": "maps", "columns": 0}, "columns 0"),
    ],
)
def test_bad_requests(kwargs, message):
    with pytest.raises(ExportError, match=message):
        FigureRequest(**kwargs)


def test_a_layer_the_model_lacks_is_named_with_the_valid_ones(model, dataset):
    with pytest.raises(ExportError, match=r"layer 'conv3': choose one of conv1, conv2"):
        compute_figure(model, dataset, FigureRequest("maps", "conv3"))


def test_out_of_range_selections(model, dataset):
    with pytest.raises(ExportError, match=r"feature 32 is out of range 0\.\.31"):
        compute_figure(model, dataset, FigureRequest("feature", "conv1", feature=32))
    with pytest.raises(ExportError, match=r"image 8 is out of range 0\.\.7"):
        compute_figure(model, dataset, FigureRequest("maps", "conv1", image=8))


def test_figure_data_is_frozen_and_checked():
    tile = np.zeros((4, 4, 3), dtype=np.uint8)
    data = FigureData("t", "c", (tile, tile), ("a", "b"))
    assert not data.tiles[0].flags.writeable
    tile[0, 0, 0] = 9
    assert data.tiles[0][0, 0, 0] == 0  # a copy, not a view of the caller's array
    with pytest.raises(ValueError, match="do not fill"):
        FigureData("t", "c", (tile,), ("a", "b"))
    with pytest.raises(ValueError, match=r"uint8 \[h, w, 3\]"):
        FigureData("t", "c", (np.zeros((4, 4)),), ("a",))
