"""Class activation maps against torchcam 0.5, pytorch-grad-cam 1.5 (Score-CAM), a hand-worked example, autograd and a
slow Score-CAM loop."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchcam.methods as torchcam_methods
from torch import nn

from explorer.core import load_model
from explorer.core.class_activation import METHODS, cam, combine, layer_gradient, scale_maps, upsample_cam
from explorer.core.errors import OptionError
from explorer.core.graph import model_graph


class TwoMaps(nn.Module):
    """A = relu(2 * (red, green)); logit k = sum over c, i, j of w[k, c, i, j] * A[c, i, j], so dScore/dA = w[k]."""

    input_size = 2

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, 1, bias=False)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv1.weight.copy_(torch.tensor([[2.0, 0, 0], [0, 2.0, 0]]).view(2, 3, 1, 1))
        w = torch.tensor([[[[1.0, -1], [2, 0]], [[1, 1], [-1, 1]]], [[[0.0, 1], [0, 0]], [[0, 0], [0, 1]]]])
        self.register_buffer("w", w)

    def forward(self, x):
        a = self.relu(self.conv1(x))
        return (a.unsqueeze(1) * self.w).sum((2, 3, 4))


def two_maps_input() -> torch.Tensor:
    """A_0 = [[1, 2], [0, 1]] (sum 4), A_1 = 0.5 everywhere (sum 2)."""
    x = torch.zeros(1, 3, 2, 2)
    x[0, 0] = torch.tensor([[0.5, 1.0], [0.0, 0.5]])
    x[0, 1] = 0.25
    return x


def test_hand_worked_example_for_every_gradient_method():
    model = TwoMaps().eval()
    a, g, targets = layer_gradient(model_graph(model), two_maps_input(), "relu", 0)
    assert targets.tolist() == [0]
    assert torch.equal(g[0], model.w[0])
    # Grad-CAM++, channel 0: g = (1, -1, 2, 0), S = 4: denominators 2g^2 + S g^3 = (6, -2, 40, 0), alpha =
    # (1/6, -1/2, 1/10, 0), w = 1/6 * 1 + 1/10 * 2 = 11/30. Channel 1: g = (1, 1, -1, 1), S = 2:
    # denominators (4, 4, 0, 4), alpha = (1/4, 1/4, 0 (zero denominator), 1/4), w = 3/4.
    plus = combine("gradcam++", a, g)[0]
    expected = 11 / 30 * torch.tensor([[1.0, 2], [0, 1]]) + 3 / 4 * 0.5
    torch.testing.assert_close(plus, expected, atol=1e-6, rtol=0)
    # HiResCAM: relu(g0 * A0 + g1 * A1) = relu((1, -2, 0, 0) + (0.5, 0.5, -0.5, 0.5)) = (1.5, 0, 0, 0.5).
    torch.testing.assert_close(combine("hirescam", a, g)[0], torch.tensor([[1.5, 0], [0, 0.5]]))
    # Grad-CAM: mean g = (1/2, 1/2), so 0.5 * A0 + 0.25. LayerCAM: (1, 0, 0, 0) + (0.5, 0.5, 0, 0.5).
    torch.testing.assert_close(combine("gradcam", a, g)[0], torch.tensor([[0.75, 1.25], [0.25, 0.75]]))
    torch.testing.assert_close(combine("layercam", a, g)[0], torch.tensor([[1.5, 0.5], [0, 0.5]]))
    scaled = {
        "gradcam": [[0.5, 1], [0, 0.5]],
        "gradcam++": [[0.5, 1], [0, 0.5]],
        "layercam": [[1, 1 / 3], [0, 1 / 3]],
        "hirescam": [[1, 0], [0, 1 / 3]],
    }
    for method, values in scaled.items():
        torch.testing.assert_close(cam(model, two_maps_input(), "relu", 0, method=method)[0], torch.tensor(values))


def test_target_picks_the_class_whose_gradient_is_used():
    # Class 1's gradient is 1 at A0[0, 1] and A1[1, 1] only: HiResCAM is (0, 2, 0, 0.5) -> (0, 1, 0, 0.25).
    got = cam(TwoMaps().eval(), two_maps_input(), "relu", [1], method="hirescam")[0]
    torch.testing.assert_close(got, torch.tensor([[0, 1], [0, 0.25]]))


def _torchcam(extractor_cls, inner, target_layer, x_in, targets):
    with extractor_cls(inner, target_layer) as extractor:
        scores = inner(x_in)
        return extractor(targets, scores)[0]


CASES = [
    ("seednet", {}, "conv2", "relu2", 32),
    ("zfnet-cifar", {}, "conv4", "relu4", 32),
    ("torchvision:resnet18", {"weights": "random"}, "layer4.1.relu_1", "layer4", 224),
]


@pytest.mark.parametrize(("spec", "kwargs", "layer", "target_layer", "size"), CASES)
@pytest.mark.parametrize(("method", "name"), [("gradcam", "GradCAM"), ("layercam", "LayerCAM")])
def test_equals_torchcam(spec, kwargs, layer, target_layer, size, method, name):
    torch.manual_seed(0)
    model = load_model(spec, **kwargs)
    x = torch.rand(2, 3, size, size)
    # torchcam hooks the model the engine wraps, so it is fed the normalised input the wrapper would make.
    inner = getattr(model, "inner", model)
    x_in = (x - model.mean) / model.std if inner is not model else x
    extractor_cls = getattr(torchcam_methods, name)
    with torch.no_grad():
        predicted = inner(x_in).argmax(1).tolist()
    ours = cam(model, x, layer, method=method)
    ref = _torchcam(extractor_cls, inner, target_layer, x_in, predicted)
    assert ours.shape == ref.shape == (2, *model_graph(model).layer(layer).size)
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)
    chosen = [3, 7]
    ours = cam(model, x, layer, chosen, method=method)
    torch.testing.assert_close(ours, _torchcam(extractor_cls, inner, target_layer, x_in, chosen), atol=1e-4, rtol=0)


def _hooked_gradient(model, module, x, targets):
    """A and dScore/dA by a forward hook and plain autograd on the model itself."""
    seen = {}
    handle = module.register_forward_hook(lambda _m, _i, out: seen.setdefault("a", out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    a = seen["a"]
    (g,) = torch.autograd.grad(logits[torch.arange(x.shape[0]), targets].sum(), a)
    return a.detach().double().numpy(), g.double().numpy()


def _scaled(raw):
    low = raw.min(axis=(1, 2), keepdims=True)
    span = raw.max(axis=(1, 2), keepdims=True) - low
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(span > 0, (raw - low) / span, 0.0)


def test_gradcam_pp_and_hirescam_match_a_rederivation_with_autograd():
    torch.manual_seed(1)
    model = load_model("zfnet-cifar")
    x = torch.rand(3, 3, 32, 32)
    targets = torch.tensor([0, 4, 9])
    a, g = _hooked_gradient(model, model.relu3, x, targets)
    # pytorch-grad-cam's Grad-CAM++, with alpha = 0 where the denominator vanishes (no epsilon).
    denominator = 2 * g**2 + a.sum(axis=(2, 3), keepdims=True) * g**3
    safe = np.where(denominator != 0, denominator, 1.0)
    alpha = np.where(denominator != 0, g**2 / safe, 0.0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(2, 3))
    plus = _scaled(np.maximum(np.einsum("bc,bchw->bhw", weights, a), 0))
    hires = _scaled(np.maximum((g * a).sum(1), 0))
    np.testing.assert_allclose(cam(model, x, "conv3", targets, method="gradcam++").numpy(), plus, atol=1e-4)
    np.testing.assert_allclose(cam(model, x, "conv3", targets, method="hirescam").numpy(), hires, atol=1e-4)


def _slow_scorecam(model, x, layer_module, targets, *, scale_first=False):
    """Score-CAM from the paper, one masked image at a time: each channel's map upsampled to the input's
    size, then min-max scaled (a constant map masks everything out), times the input; the target's
    softmax probability on that is the channel's weight. `scale_first` swaps the first two steps."""
    seen = {}
    handle = layer_module.register_forward_hook(lambda _m, _i, out: seen.setdefault("a", out.detach()))
    with torch.no_grad():
        model(x)
        handle.remove()
        a = seen["a"]
        out = []
        for b in range(x.shape[0]):
            weights = []
            for k in range(a.shape[1]):
                m = a[b, k]
                if m.max() == m.min():
                    mask = torch.zeros(1, *x.shape[2:])
                elif scale_first:
                    m = (m - m.min()) / (m.max() - m.min())
                    mask = F.interpolate(m[None, None], size=x.shape[2:], mode="bilinear", align_corners=False)[0]
                else:
                    up = F.interpolate(m[None, None], size=x.shape[2:], mode="bilinear", align_corners=False)[0]
                    mask = (up - up.min()) / (up.max() - up.min())
                weights.append(model(x[b : b + 1] * mask).softmax(1)[0, targets[b]])
            out.append(torch.relu((torch.stack(weights).view(-1, 1, 1) * a[b]).sum(0)))
    return _scaled(torch.stack(out).double().numpy())


@pytest.mark.parametrize(
    ("spec", "layer", "module"), [("seednet", "conv2", "relu2"), ("zfnet-cifar", "conv5", "relu5")]
)
def test_scorecam_equals_a_slow_per_channel_loop(spec, layer, module):
    torch.manual_seed(2)
    model = load_model(spec)
    x = torch.rand(2, 3, 32, 32)
    x[1, :, :8] = 0  # some maps go dead (constant) on this image
    targets = torch.tensor([1, 5])
    ref = _slow_scorecam(model, x, getattr(model, module), targets)
    ours = cam(model, x, layer, targets, method="scorecam").numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    # The order matters: scaling each map before upsampling it (as the engine once did) is far off.
    swapped = _slow_scorecam(model, x, getattr(model, module), targets, scale_first=True)
    assert np.abs(swapped - ref).max() > 0.01


class _LogProbability:
    """A pytorch-grad-cam target: the log-probability of a class. Its ScoreCAM softmaxes the targets'
    scores over the channels, so these give weights p_k / sum_j p_j, the paper's (and the authors'
    code's) probabilities p_k up to a positive factor, which the final min-max scaling removes."""

    def __init__(self, category):
        self.category = category

    def __call__(self, output):
        return torch.log_softmax(output, -1)[..., self.category]


class _CornersNotAligned(nn.Module):
    """pytorch-grad-cam upsamples with nn.UpsamplingBilinear2d (corners aligned); the engine and the
    authors' code use F.interpolate's default (corners not aligned), which the paper leaves open."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, maps):
        return F.interpolate(maps, size=self.size, mode="bilinear", align_corners=False)


def _identity_normalised(spec, kwargs):
    model = load_model(spec, **kwargs)
    if hasattr(model, "mean"):  # zfnet-cifar normalises inside its forward: make that the identity
        model.mean.zero_()
        model.std.fill_(1.0)
    return model


SCORECAM_CASES = [
    ("seednet", {}, "conv2", "relu2", 32),
    ("zfnet-cifar", {}, "conv5", "relu5", 32),
    (
        "torchvision:resnet18",
        {"weights": "random", "input_size": 64, "mean": (0, 0, 0), "std": (1, 1, 1)},
        "layer3.1.relu_1",
        "layer3",
        64,
    ),
]


@pytest.mark.parametrize(("spec", "kwargs", "layer", "target_layer", "size"), SCORECAM_CASES)
def test_scorecam_equals_pytorch_grad_cam(monkeypatch, spec, kwargs, layer, target_layer, size):
    """Against pytorch-grad-cam 1.5's ScoreCAM on models whose normalisation is the identity, where its
    masking of the normalised tensor and the engine's masking of the [0, 1] image coincide."""
    import pytorch_grad_cam  # here, not at the top: it brings in OpenCV and scikit-learn (1.4 s)

    torch.manual_seed(7)
    model = _identity_normalised(spec, kwargs)
    inner = getattr(model, "inner", model)
    if inner is not model:
        assert model.mean.abs().max() == 0 and torch.all(model.std == 1)
    x = torch.rand(2, 3, size, size)
    x[1, :, : size // 4] = 0
    with torch.no_grad():
        predicted = model(x).argmax(1)
    monkeypatch.setattr(torch.nn, "UpsamplingBilinear2d", _CornersNotAligned)
    for targets in (predicted, torch.tensor([3, 7])):
        with pytorch_grad_cam.ScoreCAM(inner, [dict(inner.named_modules())[target_layer]]) as reference:
            reference.batch_size = 64
            ref = reference(x, [_LogProbability(int(t)) for t in targets])
        ours = cam(model, x, layer, targets, method="scorecam")
        assert ours.shape == (2, *model_graph(model).layer(layer).size)
        # pytorch-grad-cam resizes its map to the input's size (cv2, bilinear, corners not aligned) and
        # min-max scales it again: the same final scaling applied to the engine's map.
        np.testing.assert_allclose(scale_maps(upsample_cam(ours, size)).numpy(), ref, atol=1e-4)


def test_constant_maps_are_zeros_never_nan():
    model = TwoMaps().eval()
    black = torch.zeros(2, 3, 2, 2)  # A = 0: every combination is constant
    for method in METHODS:
        got = cam(model, black, "relu", method=method)
        assert torch.equal(got, torch.zeros(2, 2, 2)), method
    assert torch.equal(scale_maps(torch.full((1, 3, 3), 7.0)), torch.zeros(1, 3, 3))
    torch.testing.assert_close(
        scale_maps(torch.tensor([[[2.0, 4.0], [6.0, 10.0]]])), torch.tensor([[[0, 0.25], [0.5, 1]]])
    )


def test_target_defaults_to_the_predicted_class():
    torch.manual_seed(3)
    model = load_model("seednet")
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    for method in ("gradcam", "scorecam"):
        torch.testing.assert_close(
            cam(model, x, "conv1", method=method), cam(model, x, "conv1", predicted, method=method)
        )
    other = int((predicted[0] + 1) % 10)
    assert not torch.equal(cam(model, x[:1], "conv2"), cam(model, x[:1], "conv2", other))
    assert torch.equal(cam(model, x, "conv2", 3), cam(model, x, "conv2", [3, 3, 3, 3]))


def test_same_maps_inside_no_grad():
    torch.manual_seed(6)
    model = load_model("seednet")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        inside = cam(model, x, "conv2", method="hirescam")
    assert torch.equal(inside, cam(model, x, "conv2", method="hirescam"))
    assert inside.max() == 1.0


def test_bad_choices_are_option_errors():
    model = load_model("seednet")
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(OptionError, match="unknown method"):
        cam(model, x, "conv2", method="gradcam+")
    with pytest.raises(OptionError, match="unknown layer"):
        cam(model, x, "fc1")
    with pytest.raises(OptionError, match="out of range"):
        cam(model, x, "conv2", 10)
    with pytest.raises(OptionError, match="one class per image"):
        cam(model, x, "conv2", [1, 2, 3])


def test_channels_last_layer_matches_autograd():
    class ChannelsLast(nn.Module):
        input_size = 8

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.lin = nn.Linear(4, 5)
            self.act = nn.ReLU()
            self.fc = nn.Linear(5 * 64, 3)

        def forward(self, x):
            y = self.act(self.lin(self.conv(x).permute(0, 2, 3, 1)))  # [B, h, w, C]
            return self.fc(y.permute(0, 3, 1, 2).flatten(1))

    torch.manual_seed(4)
    model = ChannelsLast().eval()
    x = torch.rand(2, 3, 8, 8)
    targets = torch.tensor([0, 2])
    a, g = _hooked_gradient(model, model.act, x, targets)
    a, g = a.transpose(0, 3, 1, 2), g.transpose(0, 3, 1, 2)
    ref = _scaled(np.maximum((g * a).sum(1), 0))
    np.testing.assert_allclose(cam(model, x, "act", targets, method="hirescam").numpy(), ref, atol=1e-5)


def test_upsampling_is_bilinear_without_aligned_corners():
    up = upsample_cam(torch.tensor([[[0.0, 1.0], [0.0, 1.0]]]), 4)
    torch.testing.assert_close(up[0], torch.tensor([[0, 0.25, 0.75, 1.0]]).expand(4, 4))
    assert upsample_cam(torch.rand(3, 7, 7), (224, 200)).shape == (3, 224, 200)


def _hook_count(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("method", METHODS)
def test_model_left_as_it_was(method):
    torch.manual_seed(5)
    model = load_model("zfnet-cifar").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    reached = []
    handle = model.fc.weight.register_hook(lambda grad: reached.append(grad))
    try:
        cam(model, torch.rand(2, 3, 32, 32), "conv5", method=method)
    finally:
        handle.remove()
    assert reached == []  # no gradient went into the weights
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert _hook_count(model) == 0
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
