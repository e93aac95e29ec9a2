"""evolution(): per snapshot, each feature's strongest image and its projection, against a loop done by hand."""

import copy

import pytest
import torch

from explorer.core import activations, load_model, project
from explorer.core.checkpoint import load_snapshots
from explorer.core.datasets import open_dataset
from explorer.core.feature_evolution import evolution
from explorer.core.images import to_tensor
from explorer.core.model import SeedNet
from explorer.core.training import snapshot_tensors
from explorer.core.zfnet import ZFNetCifar


def by_hand(model, weights, images, layer, features):
    """Copy each snapshot tensor into a fresh copy's parameter, then a loop over images and features."""
    m = copy.deepcopy(model)
    own = dict(m.named_parameters()) | dict(m.named_buffers())
    with torch.no_grad():
        for name, value in weights.items():
            own[name].copy_(value.float())
    indices, values, projections = [], [], []
    for f in features:
        best, where = -1.0, -1
        for i in range(images.shape[0]):
            v = activations(m, images[i : i + 1], layer)[0, f].max().item()
            if v > best:  # strictly greater: a tie keeps the lower index
                best, where = v, i
        indices.append(where)
        values.append(best)
        projections.append(project(m, images[where : where + 1], layer, f, keep="max")[0, 0])
    return indices, values, torch.stack(projections)


@pytest.fixture(scope="module")
def real_images(cifar_dir):
    return to_tensor(open_dataset(str(cifar_dir), "test").images(range(16)))


def test_bundled_snapshots_match_the_hand_loop_on_real_images(real_images):
    model = load_model("seednet")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    snapshots = load_snapshots()
    features = [3, 17, 40]
    steps = evolution(model, snapshots, real_images, "conv2", features)
    assert [s.epoch for s in steps] == sorted(snapshots) == [1, 2, 5, 10, 20, 30]
    for step in steps:
        indices, values, projections = by_hand(model, snapshots[step.epoch], real_images, "conv2", features)
        assert step.indices.tolist() == indices
        torch.testing.assert_close(step.values, torch.tensor(values), atol=1e-5, rtol=1e-5)
        assert step.projections.shape == (3, 3, 32, 32)
        torch.testing.assert_close(step.projections, projections, atol=1e-5, rtol=1e-4)
    # The snapshots differ, so the steps do; and the caller's model was never touched.
    assert not torch.equal(steps[0].projections, steps[-1].projections)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_batchnorm_snapshots_of_zfnet(real_images):
    torch.manual_seed(1)
    early = snapshot_tensors(ZFNetCifar())  # includes BatchNorm running stats, as float16
    torch.manual_seed(2)
    model = ZFNetCifar().eval()
    snapshots = {7: snapshot_tensors(model), 1: early}
    steps = evolution(model, snapshots, real_images[:10], "conv3", [0, 9])
    assert [s.epoch for s in steps] == [1, 7]  # epoch order, whatever the mapping's order
    for step in steps:
        indices, values, projections = by_hand(model, snapshots[step.epoch], real_images[:10], "conv3", [0, 9])
        assert step.indices.tolist() == indices
        torch.testing.assert_close(step.values, torch.tensor(values), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(step.projections, projections, atol=1e-4, rtol=1e-3)


def test_ties_go_to_the_lowest_index_and_only_the_max_is_projected():
    torch.manual_seed(0)
    model = SeedNet().eval()
    img = torch.rand(1, 3, 32, 32)
    images = torch.cat([torch.zeros(1, 3, 32, 32), img, img, img])  # three equal best images
    weights = {k: v for k, v in snapshot_tensors(model).items()}
    (step,) = evolution(model, {4: weights}, images, "conv1", [0, 1])
    assert step.indices.tolist() == [1, 1]
    # keep="max": the projection of one activation of a 5x5 filter touches at most a 5x5 patch.
    touched = step.projections[0].abs().sum(0) > 0
    rows, cols = touched.any(1).nonzero(), touched.any(0).nonzero()
    assert 0 < rows.numel() <= 5 and 0 < cols.numel() <= 5


def test_progress_and_bad_input():
    model = SeedNet().eval()
    snaps = {1: snapshot_tensors(model), 2: snapshot_tensors(model)}
    seen = []
    evolution(model, snaps, torch.rand(2, 3, 32, 32), "conv1", 0, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    with pytest.raises(ValueError, match="feature 32"):
        evolution(model, snaps, torch.rand(2, 3, 32, 32), "conv1", [32])
    with pytest.raises(ValueError, match=r"'conv9\.weight' is not a parameter"):
        evolution(model, {1: {"conv9.weight": torch.zeros(1)}}, torch.rand(2, 3, 32, 32), "conv1", [0])
    with pytest.raises(ValueError, match="shape"):
        evolution(model, {1: {"conv1.weight": torch.zeros(1)}}, torch.rand(2, 3, 32, 32), "conv1", [0])
