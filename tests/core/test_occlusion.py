"""occlusion(): every square position at once, against a loop that occludes one position at a time by hand."""

import pytest
import torch
from hand_models import RedSum

from explorer.core import activations, load_model, predict
from explorer.core.datasets import open_dataset
from explorer.core.images import to_tensor
from explorer.core.occlusion_sensitivity import occlusion, positions
from explorer.core.zfnet import ZFNetCifar


def brute_force(model, x, size, stride, fill, layer, feature):
    """One forward pass per position, the square pasted with slicing."""
    h, w = x.shape[2:]
    ys, xs = range(0, h - size + 1, stride), range(0, w - size + 1, stride)
    probs = torch.zeros(x.shape[0], predict(model, x).shape[1], len(ys), len(xs))
    act = torch.zeros(x.shape[0], len(ys), len(xs))
    for i, y in enumerate(ys):
        for j, x0 in enumerate(xs):
            copy = x.clone()
            copy[:, :, y : y + size, x0 : x0 + size] = fill
            probs[:, :, i, j] = predict(model, copy)
            act[:, i, j] = activations(model, copy, layer)[:, feature].sum((1, 2))
    return probs, act


@pytest.fixture(scope="module")
def real_images(cifar_dir):
    ds = open_dataset(str(cifar_dir), "test")
    return to_tensor(ds.images([0, 5001, 7]))


def test_seednet_matches_a_loop_over_positions_on_real_images(real_images):
    model = load_model("seednet")
    r = occlusion(model, real_images, size=8, stride=6, fill=0.5, layer="conv2", feature=5, batch=7)
    probs, act = brute_force(model, real_images, 8, 6, 0.5, "conv2", 5)
    assert r.ys == r.xs == (0, 6, 12, 18, 24)  # up to 32 - 8 inclusive
    assert r.probs.shape == (3, 10, 5, 5) and r.activation.shape == (3, 5, 5)
    torch.testing.assert_close(r.probs, probs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(r.activation, act, atol=1e-3, rtol=1e-4)
    assert torch.equal(r.top_class, probs.argmax(1))
    torch.testing.assert_close(r.base_probs, predict(model, real_images))
    assert r.activation.std() > 0  # the square really changes the feature somewhere


def test_zfnet_batchnorm_model_matches_the_loop(real_images):
    torch.manual_seed(3)
    model = ZFNetCifar().eval()
    r = occlusion(model, real_images[:1], size=10, stride=7, fill=0.2, layer="conv3", feature=11, batch=4)
    probs, act = brute_force(model, real_images[:1], 10, 7, 0.2, "conv3", 11)
    assert r.ys == (0, 7, 14, 21)
    torch.testing.assert_close(r.probs, probs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(r.activation, act, atol=1e-3, rtol=1e-4)


def test_hand_worked_case():
    # A 4x4 red image, 1 in the top-left 2x2 block and 0 elsewhere; a 2x2 square of fill 0 with stride 2.
    x = torch.zeros(1, 3, 4, 4)
    x[0, 0, :2, :2] = 1.0
    r = occlusion(RedSum(), x, size=2, stride=2, fill=0.0, layer="relu", feature=0)
    # Covering the block removes all 4 of the red; anywhere else the sum stays 4.
    assert r.activation.tolist() == [[[0.0, 4.0], [4.0, 4.0]]]
    # logits (s, 0): p(class 0) = sigmoid(s), so 0.5 where covered and sigmoid(4) elsewhere.
    s4 = torch.sigmoid(torch.tensor(4.0)).item()
    torch.testing.assert_close(r.probs[0, 0], torch.tensor([[0.5, s4], [s4, s4]]))
    # Ties (0.5, 0.5) go to the lower class, as argmax does.
    assert r.top_class.tolist() == [[[0, 0], [0, 0]]]
    assert r.base_activation.tolist() == [4.0]


def test_positions_reach_the_far_edge_inclusive():
    assert positions(32, 8, 1) == tuple(range(25))
    assert positions(32, 8, 8) == (0, 8, 16, 24)
    assert positions(10, 3, 4) == (0, 4)


def test_progress_is_called_and_can_cancel():
    model = load_model("seednet")
    x = torch.rand(2, 3, 32, 32)
    seen = []
    occlusion(model, x, size=8, stride=4, batch=10, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2 * 49, 2 * 49) and len(seen) == 2 * 5

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop

    with pytest.raises(Stop):
        occlusion(model, x, size=8, stride=4, batch=10, progress=stop)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 0}, "size 0"),
        ({"size": 33}, "size 33"),
        ({"stride": 0}, "stride 0"),
        ({"fill": 2.0}, "fill 2.0"),
        ({"layer": "conv2"}, "layer and feature"),
        ({"layer": "conv2", "feature": 64}, "feature 64"),
        ({"layer": "fc9", "feature": 0}, "unknown layer"),
    ],
)
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        occlusion(load_model("seednet"), torch.rand(1, 3, 32, 32), **kwargs)


def test_caller_model_left_in_its_mode():
    model = load_model("seednet").train()
    occlusion(model, torch.rand(1, 3, 32, 32), size=16, stride=16)
    assert model.training
