"""invariance(): distances and probabilities per transform amount, against shifts done by hand."""

import math

import pytest
import torch
from hand_models import RedSum

from explorer.core import activations, load_model, predict
from explorer.core.datasets import open_dataset
from explorer.core.images import to_tensor
from explorer.core.invariance_curves import invariance, transformed
from explorer.core.zfnet import ZFNetCifar


def shifted_by_hand(x, pixels, fill):
    """[3, H, W] moved down by `pixels` (up when negative), the vacated rows set to `fill`."""
    out = torch.full_like(x, fill)
    if pixels >= 0:
        out[:, pixels:] = x[:, : x.shape[1] - pixels]
    else:
        out[:, :pixels] = x[:, -pixels:]
    return out


@pytest.fixture(scope="module")
def real_images(cifar_dir):
    return to_tensor(open_dataset(str(cifar_dir), "test").images([5001, 3]))


@pytest.mark.parametrize("which", [0, 1])
def test_translation_matches_a_shift_by_hand_on_real_images(real_images, which):
    model = load_model("seednet")
    x = real_images[which]
    values = [-6, -1, 0, 1, 3, 8]
    r = invariance(model, x, "translate", values, layer=["conv1", "conv2"], fill=0.3)
    assert r.distance.shape == (2, 6) and r.probs.shape == (6, 10)
    for k, v in enumerate(values):
        moved = shifted_by_hand(x, v, 0.3)
        assert torch.equal(r.images[k], moved)
        for i, layer in enumerate(["conv1", "conv2"]):
            want = (activations(model, moved[None], layer) - activations(model, x[None], layer)).norm()
            torch.testing.assert_close(r.distance[i, k], want, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(r.probs[k], predict(model, moved[None])[0], atol=1e-6, rtol=1e-5)
    assert (r.distance[:, [0, 1, 3, 4, 5]] > 0).all()


@pytest.mark.parametrize("transform, identity", [("translate", 0), ("scale", 1.0), ("rotate", 0.0)])
def test_identity_gives_zero_and_exactly_the_prediction(real_images, transform, identity):
    torch.manual_seed(5)
    for model in (load_model("seednet"), ZFNetCifar().eval()):
        r = invariance(model, real_images[:1], transform, [identity, identity], layer="conv2")
        assert r.distance.shape == (2,) and r.distance.tolist() == [0.0, 0.0]
        assert torch.equal(r.probs, predict(model, real_images[:1]).expand(2, -1))
        single = real_images[1].contiguous()
        r = invariance(model, single, transform, [identity], layer=["conv1"])
        assert r.distance.tolist() == [[0.0]] and torch.equal(r.probs, predict(model, single[None]))


def test_scale_and_rotation_turn_about_the_centre():
    x = torch.zeros(3, 8, 8)
    x[:, 3:5, 3:5] = 1.0  # a centred 2x2 block
    turned = transformed(x, "rotate", 90.0, fill=0.0)
    torch.testing.assert_close(turned, torch.rot90(x, 1, (1, 2)), atol=1e-5, rtol=0)
    big = transformed(x, "scale", 2.0, fill=0.0)
    assert big[:, 2:6, 2:6].min() > 0.2 and big[:, :1].abs().max() < 1e-6  # grew about the centre
    assert transformed(x, "scale", 1.0) is x


def test_hand_worked_translation():
    # One red pixel at (1, 1) of a 4x4 image, fill 0. Moved by 1 it is somewhere else: the maps differ
    # in two pixels of 1, so the distance is sqrt(2); moved by 3 it leaves the image: distance 1.
    x = torch.zeros(3, 4, 4)
    x[0, 1, 1] = 1.0
    r = invariance(RedSum(), x, "translate", [0, 1, 3], layer="relu", fill=0.0)
    torch.testing.assert_close(r.distance, torch.tensor([0.0, math.sqrt(2), 1.0]))
    # p(class 0) = sigmoid(sum of red): sigmoid(1) while the pixel is in, 0.5 once it has left.
    s1 = torch.sigmoid(torch.tensor(1.0)).item()
    torch.testing.assert_close(r.probs[:, 0], torch.tensor([s1, s1, 0.5]))


def test_bad_input():
    model = load_model("seednet")
    x = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="unknown transform 'shear'"):
        invariance(model, x, "shear", [1], layer="conv1")
    with pytest.raises(ValueError, match="whole pixels"):
        invariance(model, x, "translate", [1.5], layer="conv1")
    with pytest.raises(ValueError, match="positive"):
        invariance(model, x, "scale", [0], layer="conv1")
    with pytest.raises(ValueError, match="unknown layer"):
        invariance(model, x, "rotate", [10], layer="conv7")
