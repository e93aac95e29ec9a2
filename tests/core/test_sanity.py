"""Sanity checks (Adebayo et al.), their measures, and RISE's deletion and insertion curves."""

import numpy as np
import pytest
import scipy.ndimage as scipy_ndimage
import scipy.stats as scipy_stats
import torch
from hand_models import RedSum
from torch import nn
from zoo_helpers import SwappedRectifiers

from explorer.core import load_model
from explorer.core.datasets import open_dataset
from explorer.core.errors import OptionError
from explorer.core.probes import probe_patterns
from explorer.core.rise_curves import blurred, deletion_insertion
from explorer.core.saliency import logit_attribution, saliency_maps
from explorer.core.sanity_checks import cascade_steps, random_label_check, sanity
from explorer.core.similarity import average_ranks, rank_correlation, ssim


@pytest.fixture(scope="module")
def zfnet():
    return load_model("zfnet-cifar")


def probe_images() -> torch.Tensor:
    ds = probe_patterns()
    return ds.tensor(list(range(0, len(ds), len(ds) // 8))[:8])


# -- the measures -------------------------------------------------------------------------------


def test_rank_correlation_equals_scipy_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 5, size=(6, 7)).astype(float)  # many ties
        b = a + rng.normal(0, 2, size=a.shape)
        assert rank_correlation(a, b) == pytest.approx(scipy_stats.spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)
    np.testing.assert_array_equal(average_ranks(np.array([5.0, 1, 5, 3])), [2.5, 0, 2.5, 1])
    assert rank_correlation(np.array([1.0, 2, 3]), np.array([30.0, 20, 10])) == -1.0


def test_constant_maps_score_zero_never_nan():
    flat, varied = np.zeros((8, 8)), np.arange(64.0).reshape(8, 8)
    for a, b in ((flat, varied), (varied, flat), (flat, flat)):
        assert rank_correlation(a, b) == 0.0
        assert ssim(a, b) == 0.0


def _ssim_by_filtering(a, b):
    """scikit-image's Gaussian SSIM: scipy's gaussian_filter (sigma 1.5, radius 5), borders cropped."""
    a = (a - a.min()) / (a.max() - a.min())
    b = (b - b.min()) / (b.max() - b.min())

    def f(t):
        return scipy_ndimage.gaussian_filter(t, 1.5, truncate=3.5)

    mu_a, mu_b = f(a), f(b)
    var_a, var_b, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s[5:-5, 5:-5].mean()


def test_ssim_equals_filtering_reference():
    rng = np.random.default_rng(1)
    a = rng.random((32, 40))
    b = 0.7 * a + 0.3 * rng.random((32, 40))
    assert ssim(a, b) == pytest.approx(_ssim_by_filtering(a, b), abs=1e-10)
    assert ssim(a, 3 * a + 1) == pytest.approx(1.0)  # the same map after min-max scaling
    assert ssim(a, b) < 0.99
    assert -1.0 <= ssim(a[:6, :6], b[:6, :6]) <= 1.0  # a map smaller than the window


# -- input attribution of a logit ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["gradient", "guided", "deconvnet"])
def test_logit_attribution_equals_autograd_with_swapped_rectifiers(zfnet, method):
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32)
    targets = torch.tensor([2, 0, 9])
    xi = x.clone().requires_grad_(True)
    with SwappedRectifiers(method):
        logits = zfnet(xi)
    (ref,) = torch.autograd.grad(logits[torch.arange(3), targets].sum(), xi)
    torch.testing.assert_close(logit_attribution(zfnet, x, targets, method=method), ref, atol=1e-5, rtol=1e-4)


class Linear2x2(nn.Module):
    """logit k = sum(x * w[k]): the gradient of class k is w[k] whatever the image."""

    input_size = 2

    def __init__(self):
        super().__init__()
        self.register_buffer("w", torch.arange(4 * 12, dtype=torch.float32).view(4, 3, 2, 2).remainder(7) - 3)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return (x.unsqueeze(1) * self.w).sum((2, 3, 4)) * self.scale


def test_random_label_check_compares_the_two_classes_pictures():
    model = Linear2x2().eval()
    x = torch.rand(5, 3, 2, 2)
    check = random_label_check(model, x, seed=3)
    assert np.all(check.other != check.predicted) and np.all((check.other >= 0) & (check.other < 4))
    pictures = model.w.abs().sum(1).numpy()
    for p, o, rho in zip(check.predicted, check.other, check.spearman, strict=True):
        assert rho == pytest.approx(scipy_stats.spearmanr(pictures[p].ravel(), pictures[o].ravel())[0], abs=1e-12)
    again = random_label_check(model, x, seed=3)
    np.testing.assert_array_equal(again.other, check.other)


# -- the cascade ---------------------------------------------------------------------------------


def test_cascade_steps_go_from_the_classifier_down(zfnet):
    steps = cascade_steps(zfnet)
    assert [name for name, _ in steps] == ["fc", "conv5", "conv4", "conv3", "conv2", "conv1"]
    assert [type(m).__name__ for m in steps[1][1]] == ["Conv2d", "BatchNorm2d"]
    assert steps[1][1][1] is zfnet.bn5
    resnet = load_model("torchvision:resnet18", weights="random")
    names = [name for name, _ in cascade_steps(resnet)]
    assert names[:3] == ["fc", "layer4.1.conv2", "layer4.1.conv1"] and names[-1] == "conv1" and len(names) == 21


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_deterministic_and_the_trained_model_untouched(zfnet):
    x = probe_images()[:3]
    before = _state(zfnet)
    rng = torch.get_rng_state()
    first = sanity(zfnet, x, seed=5, depth=3)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random state is left as it was
    second = sanity(zfnet, x, seed=5, depth=3)
    other = sanity(zfnet, x, seed=6, depth=3)
    assert first.layers == ("fc", "conv5", "conv4")
    for m in ("gradient", "guided", "deconvnet", "gradcam"):
        np.testing.assert_array_equal(first.spearman[m], second.spearman[m])
        np.testing.assert_array_equal(first.ssim[m], second.ssim[m])
        np.testing.assert_array_equal(first.pictures[m], second.pictures[m])
        assert first.spearman[m].shape == first.ssim[m].shape == (3,)
        assert first.pictures[m].shape == (4, 3, 32, 32)
    assert any(not np.array_equal(first.spearman[m], other.spearman[m]) for m in first.spearman)
    after = zfnet.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in zfnet.parameters())


def test_first_step_is_the_trained_model_with_a_seeded_classifier(zfnet):
    """The fc step's gradient picture, rebuilt by hand: reset fc under the seed, then plain autograd."""
    import copy

    x = probe_images()[:2]
    got = sanity(zfnet, x, methods=("gradient",), seed=7, depth=1)
    hand = copy.deepcopy(zfnet)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        hand.fc.reset_parameters()
    xi = x.clone().requires_grad_(True)
    logits = hand(xi)
    (g,) = torch.autograd.grad(logits[torch.arange(2), torch.from_numpy(got.targets)].sum(), xi)
    np.testing.assert_allclose(got.pictures["gradient"][1], g.abs().sum(1).numpy(), atol=1e-6)
    np.testing.assert_allclose(got.pictures["gradient"][0], saliency_maps(zfnet, x, got.targets.tolist()).numpy())
    rho = np.mean(
        [rank_correlation(a, b) for a, b in zip(got.pictures["gradient"][0], g.abs().sum(1).numpy(), strict=True)]
    )
    assert got.spearman["gradient"][0] == pytest.approx(rho, abs=1e-6)


class Dark(nn.Module):
    """A 1x1 conv without bias, ReLU, fc: on a black image every picture is constant (zero)."""

    input_size = 2

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, 1, bias=False)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.relu(self.conv1(x)).flatten(1))


def test_constant_pictures_count_as_zero_in_the_cascade():
    torch.manual_seed(0)
    # The deconvnet is left out: it rectifies the signal whatever the forward pass did, so it is not zero here.
    result = sanity(Dark().eval(), torch.zeros(2, 3, 2, 2), methods=("gradient", "guided", "gradcam"))
    assert result.layers == ("fc", "conv1")
    assert set(result.spearman) == {"gradient", "guided", "gradcam"}
    for m in result.spearman:
        assert not result.pictures[m].any()
        np.testing.assert_array_equal(result.spearman[m], [0.0, 0.0])
        np.testing.assert_array_equal(result.ssim[m], [0.0, 0.0])


def test_bad_methods_and_depth_are_option_errors(zfnet):
    x = probe_images()[:1]
    with pytest.raises(OptionError, match="unknown method"):
        sanity(zfnet, x, methods=("smoothgrad",))
    with pytest.raises(OptionError, match="at least one layer"):
        sanity(zfnet, x, depth=0)


def _fc_step(model, x):
    result = sanity(model, x, depth=1)
    return {m: float(v[0]) for m, v in result.spearman.items()}


def test_guided_backprop_ignores_a_random_classifier_on_probes(zfnet):
    rho = _fc_step(zfnet, probe_images())
    # Measured: gradient 0.24, guided 0.88, deconvnet 0.19, gradcam 0.33.
    assert rho["guided"] >= 0.7
    assert rho["gradient"] <= 0.5


@pytest.mark.realdata
def test_guided_backprop_ignores_a_random_classifier_on_cifar10(zfnet, cifar_dir):
    ds = open_dataset(str(cifar_dir), "test")
    rho = _fc_step(zfnet, ds.tensor(list(range(0, 10_000, 1250))))  # eight classes, one image each
    # Measured: gradient 0.32, guided 0.90, deconvnet 0.41, gradcam 0.15.
    assert rho["guided"] >= 0.7
    assert rho["gradient"] <= 0.5


# -- deletion and insertion ----------------------------------------------------------------------


def test_deletion_and_insertion_by_hand():
    model = RedSum().eval()  # p(class 0) = sigmoid(sum of the red channel)
    image = torch.zeros(3, 2, 2)
    image[0] = torch.tensor([[0.4, 0.1], [0.3, 0.2]])
    result = deletion_insertion(model, image, image[0], 0, steps=4)
    np.testing.assert_allclose(result.fractions, [0, 0.25, 0.5, 0.75, 1])
    # Deleting 0.4, then 0.3, 0.2, 0.1 leaves red sums 1.0, 0.6, 0.3, 0.1, 0.
    sig = 1 / (1 + np.exp(-np.array([1.0, 0.6, 0.3, 0.1, 0.0])))
    np.testing.assert_allclose(result.deletion, sig, atol=1e-6)
    area = 0.25 * (sig[0] / 2 + sig[1] + sig[2] + sig[3] + sig[4] / 2)
    assert result.deletion_auc == pytest.approx(area, abs=1e-6)
    # Insertion: the blurred red channel, with the original put back in the same order.
    g = np.exp(-((np.arange(11) - 5) ** 2) / 50)
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    red = image[0].double().numpy()
    blur = scipy_ndimage.correlate(red, kernel, mode="constant")
    torch.testing.assert_close(blurred(image[None].double())[0, 0], torch.from_numpy(blur))
    order = [(0, 0), (1, 0), (1, 1), (0, 1)]
    sums = []
    for k in range(5):
        mixed = blur.copy()
        for r, c in order[:k]:
            mixed[r, c] = red[r, c]
        sums.append(mixed.sum())
    np.testing.assert_allclose(result.insertion, 1 / (1 + np.exp(-np.array(sums))), atol=1e-6)
    assert result.insertion[-1] == pytest.approx(sig[0], abs=1e-6)


def test_deletion_upsamples_a_small_saliency_and_checks_its_inputs(zfnet):
    x = probe_images()[0]
    small = torch.rand(8, 8)
    result = deletion_insertion(zfnet, x, small, 3, steps=8)
    assert result.deletion.shape == result.insertion.shape == (9,)
    assert 0 <= result.deletion_auc <= 1 and 0 <= result.insertion_auc <= 1
    with pytest.raises(OptionError, match="out of range"):
        deletion_insertion(zfnet, x, small, 10)
    with pytest.raises(OptionError, match="steps"):
        deletion_insertion(zfnet, x, small, 0, steps=0)
