"""Every projection method against an independent reference and a tiny example worked by hand."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from explorer.core import SeedNet, activations, predict, project
from explorer.core import projection as core_projection
from explorer.core.projection import Projector

COMBOS = [
    ("deconvnet", "switches"),
    ("deconvnet", "fill"),
    ("guided", "switches"),
    ("gradient", "switches"),
]


@pytest.fixture(scope="module")
def model() -> SeedNet:
    torch.manual_seed(1)
    m = SeedNet().double().eval()
    # Larger weights than the default init so that both ReLU states and real pooling choices occur.
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)
    return m


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(2)
    return torch.rand(3, 3, 32, 32, dtype=torch.float64)


# ---- independent references -------------------------------------------------------------------


class _ReluBack(torch.autograd.Function):
    """ReLU whose way back is chosen: "deconvnet" relu(g), "guided" relu(g) * (z > 0)."""

    @staticmethod
    def forward(ctx, z, rule):
        ctx.save_for_backward(z)
        ctx.rule = rule
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        if ctx.rule == "deconvnet":
            return g.clamp(min=0), None
        if ctx.rule == "guided":
            return g.clamp(min=0) * (z > 0), None
        return g * (z > 0), None


def _top_loss(maps: torch.Tensor, keep: str) -> torch.Tensor:
    """0.5 * sum(map^2), or 0.5 * max^2 for keep="max": its gradient w.r.t. the map is the top signal."""
    if keep == "map":
        return 0.5 * (maps**2).sum()
    flat = maps.flatten(1)
    idx = flat.detach().argmax(1, keepdim=True)
    return 0.5 * (flat.gather(1, idx) ** 2).sum()


def autograd_reference(m: SeedNet, x: torch.Tensor, layer: str, f: int, method: str, keep: str) -> torch.Tensor:
    """[B, 3, H, W] by autograd, with the ReLU's way back replaced for deconvnet and guided."""
    x = x.clone().requires_grad_(True)
    a = _ReluBack.apply(m.conv1(x), method)
    if layer == "conv2":
        a = _ReluBack.apply(m.conv2(F.max_pool2d(a, 2)), method)
    (grad,) = torch.autograd.grad(_top_loss(a[:, f], keep), x)
    return grad


def _unpool_by_mask(g: torch.Tensor, a: torch.Tensor, fill: bool) -> torch.Tensor:
    """Unpool 2x2 by comparing each window with its maximum (first maximum in row-major order).

    An odd last row or column of `a` belongs to no window and gets zero.
    """
    n, c, h, w = g.shape
    out = torch.zeros_like(a)
    if fill:
        out[:, :, : 2 * h, : 2 * w] = torch.kron(g, torch.ones(2, 2, dtype=g.dtype))
        return out
    even = a[:, :, : 2 * h, : 2 * w]
    win = even.reshape(n, c, h, 2, w, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w, 4)
    first = torch.zeros_like(win)
    first.scatter_(-1, win.argmax(-1, keepdim=True), 1.0)
    placed = first * g.unsqueeze(-1)
    out[:, :, : 2 * h, : 2 * w] = placed.view(n, c, h, w, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * h, 2 * w)
    return out


def rederived_deconvnet(m: SeedNet, x: torch.Tensor, layer: str, f: int, fill: bool, keep: str) -> torch.Tensor:
    """Zeiler & Fergus by hand, one feature at a time: zero the other maps, then unpool, rectify, filter."""
    with torch.no_grad():
        a1 = torch.relu(m.conv1(x))
        top = a1 if layer == "conv1" else torch.relu(m.conv2(F.max_pool2d(a1, 2)))
        sig = torch.zeros_like(top)
        sig[:, f] = top[:, f]
        if keep == "max":
            flat = sig[:, f].flatten(1)
            kept = torch.zeros_like(flat)
            i = flat.argmax(1)
            kept[torch.arange(len(i)), i] = flat[torch.arange(len(i)), i]
            sig[:, f] = kept.view_as(sig[:, f])
        if layer == "conv2":
            sig = F.conv_transpose2d(torch.relu(sig), m.conv2.weight, padding=2)
            sig = _unpool_by_mask(sig, a1, fill)
        return F.conv_transpose2d(torch.relu(sig), m.conv1.weight, padding=2)


# ---- comparisons --------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "unpool"), COMBOS)
@pytest.mark.parametrize("keep", ["map", "max"])
@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_matches_reference(model, images, layer, method, unpool, keep):
    feats = [0, 7, 31] if layer == "conv1" else [0, 9, 40, 63]
    out = project(model, images, layer, feats, method=method, unpool=unpool, keep=keep)
    assert out.shape == (3, len(feats), 3, 32, 32)
    for j, f in enumerate(feats):
        if method == "deconvnet":
            ref = rederived_deconvnet(model, images, layer, f, unpool == "fill", keep)
        else:
            ref = autograd_reference(model, images, layer, f, method, keep)
        assert ref.abs().max() > 0, "reference is all zero: the comparison would prove nothing"
        torch.testing.assert_close(out[:, j], ref, rtol=1e-9, atol=1e-12)
    if method == "deconvnet" and unpool == "switches":
        # Zeiler & Fergus's deconvnet is autograd with relu(g) as the ReLU's way back (captum's rule).
        for j, f in enumerate(feats):
            ref = autograd_reference(model, images, layer, f, "deconvnet", keep)
            torch.testing.assert_close(out[:, j], ref, rtol=1e-9, atol=1e-12)


def test_all_features_equal_one_at_a_time(model, images):
    whole = project(model, images, "conv2", None, method="guided")
    assert whole.shape == (3, 64, 3, 32, 32)
    for f in (0, 17, 63):
        torch.testing.assert_close(whole[:, f], project(model, images, "conv2", f, method="guided")[:, 0])


@pytest.mark.parametrize("method", ["deconvnet", "gradient"])
@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_features_in_chunks_equal_all_at_once(model, images, monkeypatch, layer, method):
    feats = [0, 9, 17, 30, 5]
    whole = project(model, images, layer, feats, method=method)
    widest = images.shape[0] * model.conv1.out_channels * images.shape[2] * images.shape[3]
    # A cap of one feature's widest tensor, and of two (chunks 2, 2, 1): the results are joined.
    for cap in (widest, 2 * widest + 1):
        monkeypatch.setattr(core_projection, "_CHUNK_ELEMENTS", cap)
        torch.testing.assert_close(project(model, images, layer, feats, method=method), whole, rtol=0, atol=0)
        projector = Projector(model, images, layer)
        torch.testing.assert_close(projector.project(feats, method=method), whole, rtol=0, atol=0)


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_an_empty_feature_list_gives_an_empty_result(model, images, layer):
    out = project(model, images, layer, [])
    assert out.shape == (3, 0, 3, 32, 32) and out.dtype == images.dtype and out.device == images.device
    assert Projector(model, images, layer).project([], method="guided").shape == (3, 0, 3, 32, 32)


@pytest.mark.parametrize(("method", "unpool"), COMBOS)
@pytest.mark.parametrize("size", [(33, 35), (31, 30), (17, 18)])
@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_odd_image_sizes_match_reference(model, layer, size, method, unpool):
    torch.manual_seed(6)
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    feats = [0, 7] if layer == "conv1" else [9, 40]
    out = project(model, x, layer, feats, method=method, unpool=unpool)
    assert out.shape == (2, 2, 3, *size)
    for j, f in enumerate(feats):
        if method == "deconvnet":
            ref = rederived_deconvnet(model, x, layer, f, unpool == "fill", "map")
        else:
            ref = autograd_reference(model, x, layer, f, method, "map")
        assert ref.abs().max() > 0
        torch.testing.assert_close(out[:, j], ref, rtol=1e-9, atol=1e-12)


def test_methods_differ(model, images):
    outs = [project(model, images, "conv2", 5, method=m) for m in ("deconvnet", "guided", "gradient")]
    fill = project(model, images, "conv2", 5, unpool="fill")
    for a, b in itertools.combinations([*outs, fill], 2):
        assert not torch.allclose(a, b)


def test_no_state_left_on_model(model, images):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    project(model, images, "conv2", None)
    for name, mod in model.named_modules():
        assert not mod._forward_hooks and not mod._backward_hooks and not mod._forward_pre_hooks, name
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in model.parameters())


class _Stop(Exception):
    pass


def test_stop_is_asked_between_the_steps_and_stops_the_pass(model, images):
    """A window's job stops a forward pass or a way down between layers: `stop` is called at each step and what it
    raises ends the pass; a `stop` that never raises changes nothing."""
    calls = []
    projector = Projector(model, images, "conv2", stop=lambda: calls.append("up"))
    out = projector.project(3, stop=lambda: calls.append("down"))
    torch.testing.assert_close(out, project(model, images, "conv2", 3), rtol=0, atol=0)
    assert calls.count("up") >= 5 and calls.count("down") >= 2  # conv, relu, pool, conv, relu; then pool and conv1 down

    def stop_at(n):
        seen = []

        def stop():
            seen.append(1)
            if len(seen) == n:
                raise _Stop

        return stop

    with pytest.raises(_Stop):
        Projector(model, images, "conv2", stop=stop_at(3))
    with pytest.raises(_Stop):
        projector.project(3, stop=stop_at(2))


def test_bad_arguments(model, images):
    with pytest.raises(ValueError, match="fill"):
        project(model, images, "conv2", 0, method="guided", unpool="fill")
    with pytest.raises(ValueError, match="layer"):
        project(model, images, "fc1", 0)
    with pytest.raises(ValueError, match="out of range"):
        project(model, images, "conv1", 32)
    with pytest.raises(ValueError, match="method"):
        project(model, images, "conv1", 0, method="occlusion")


def test_activations_and_predict(model, images):
    a1 = activations(model, images, "conv1")
    a2 = activations(model, images, "conv2")
    assert a1.shape == (3, 32, 32, 32) and a2.shape == (3, 64, 16, 16)
    torch.testing.assert_close(a1, torch.relu(model.conv1(images)))
    probs = predict(model, images)
    assert probs.shape == (3, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(3, dtype=probs.dtype))
    torch.testing.assert_close(probs, model(images).softmax(1))


# ---- a tiny example worked by hand ---------------------------------------------------------------


def _hand_model(w2: float, b2: float) -> SeedNet:
    """conv1 feature 0 copies the red channel; conv2 feature 0 is w2 * (conv1 feature 0) + b2."""
    m = SeedNet().double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.conv1.weight[0, 0, 2, 2] = 1.0
        m.conv2.weight[0, 0, 2, 2] = w2
        m.conv2.bias[0] = b2
    return m


def _hand_image() -> torch.Tensor:
    x = torch.zeros(1, 3, 32, 32, dtype=torch.float64)
    x[0, 0, 4, 6] = 0.5  # the maximum of pooling window (2, 3)
    x[0, 0, 5, 7] = 0.25  # same window, not the maximum
    return x


def test_hand_example_conv1():
    x = _hand_image()
    out = project(_hand_model(1.0, 0.0), x, "conv1", 0)[0, 0]
    expected = torch.zeros(3, 32, 32, dtype=torch.float64)
    expected[0, 4, 6], expected[0, 5, 7] = 0.5, 0.25  # the map itself, through a 1-tap filter
    torch.testing.assert_close(out, expected)
    kept = project(_hand_model(1.0, 0.0), x, "conv1", 0, keep="max")[0, 0]
    expected[0, 5, 7] = 0.0  # keep="max" sends down only the 0.5
    torch.testing.assert_close(kept, expected)


def test_hand_example_conv2_unpooling():
    m, x = _hand_model(1.0, 0.0), _hand_image()
    # a2[0] is 0.5 at (2, 3): the pooled maximum. Switches return it to (4, 6) only...
    sw = project(m, x, "conv2", 0)[0, 0]
    expected = torch.zeros(3, 32, 32, dtype=torch.float64)
    expected[0, 4, 6] = 0.5
    torch.testing.assert_close(sw, expected)
    torch.testing.assert_close(project(m, x, "conv2", 0, method="gradient")[0, 0], expected)
    # ...while fill spreads it over the whole 2x2 square (4..5, 6..7).
    fill = project(m, x, "conv2", 0, unpool="fill")[0, 0]
    expected[0, 4:6, 6:8] = 0.5
    torch.testing.assert_close(fill, expected)


def test_hand_example_negative_weight_is_rectified_away_except_by_the_gradient():
    # With w2 = -1 and b2 = 1: a2[0] = relu(1 - 0.5) = 0.5 at (2, 3) and 1 elsewhere.
    # Going down through w2 = -1 makes the signal negative before the conv1 ReLU:
    # deconvnet and guided rectify it to zero; the gradient keeps it where z1 > 0.
    m, x = _hand_model(-1.0, 1.0), _hand_image()
    for keep in ("map", "max"):
        assert project(m, x, "conv2", 0, keep=keep, method="deconvnet").abs().max() == 0
        assert project(m, x, "conv2", 0, keep=keep, method="guided").abs().max() == 0
    # keep="max" keeps a2 = 1 at (0, 0), whose switch points at (0, 0) where z1 = 0: gradient is zero too.
    assert project(m, x, "conv2", 0, keep="max", method="gradient").abs().max() == 0
    grad = project(m, x, "conv2", 0, method="gradient")[0, 0]
    expected = torch.zeros(3, 32, 32, dtype=torch.float64)
    expected[0, 4, 6] = -0.5  # the only positive z1 that is a pooling maximum: 0.5 * (-1)
    torch.testing.assert_close(grad, expected)


def test_hand_example_separates_all_three_methods():
    # conv1 feature 0 copies red, feature 1 copies green; conv2 feature 0 = f0 - f1 + 1.
    m = _hand_model(1.0, 1.0)
    with torch.no_grad():
        m.conv1.weight[1, 1, 2, 2] = 1.0
        m.conv2.weight[0, 1, 2, 2] = -1.0
    x = _hand_image()  # red 0.5 at (4, 6): the maximum of pooling window (2, 3)
    x[0, 1, 8, 10] = 0.25  # green 0.25 at (8, 10): the maximum of window (4, 5)
    # a2 = 1.5 at (2, 3), 0.75 at (4, 5), 1 elsewhere, all through the conv2 ReLU. Down through
    # conv2 the signal is +a2 on f0 and -a2 on f1, everywhere; then the three methods part ways.
    deconvnet, guided, gradient = (
        project(m, x, "conv2", 0, method=k)[0, 0] for k in ("deconvnet", "guided", "gradient")
    )
    # deconvnet: relu(g) keeps +a2 on f0 at every window's switch (the top-left of an all-zero
    # window), whatever z1 was; the negative f1 signal goes.
    expected = torch.zeros(3, 32, 32, dtype=torch.float64)
    expected[0, ::2, ::2] = 1.0
    expected[0, 4, 6] = 1.5
    expected[0, 8, 10] = 0.75
    torch.testing.assert_close(deconvnet, expected)
    # guided: relu(g) only where z1 > 0: the red pixel alone.
    expected = torch.zeros(3, 32, 32, dtype=torch.float64)
    expected[0, 4, 6] = 1.5
    torch.testing.assert_close(guided, expected)
    # gradient: g where z1 > 0, negative or not: the red pixel and, negative, the green one.
    expected[1, 8, 10] = -0.75
    torch.testing.assert_close(gradient, expected)
    for a, b in itertools.combinations((deconvnet, guided, gradient), 2):
        assert not torch.equal(a, b)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 3])
@pytest.mark.parametrize("dilation", [1, 2])
def test_the_transposed_conv_of_an_image_layer_equals_autograds(kernel, stride, padding, dilation):
    """A conv with three input channels goes down as one matrix product and shifted sums (a batch big enough), or
    through oneDNN: both are d(conv(x))/dx applied to the signal, as autograd computes it."""
    from explorer.core.descent import TAP_SUM_PIXELS, _tap_sum_input_grad, conv_input_grad

    torch.manual_seed(kernel * 100 + stride * 10 + padding + dilation)
    for size, batch in ((17, 2), (32, 2), (33, 3)):
        conv = torch.nn.Conv2d(3, 8, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)
        x = torch.randn(batch, 3, size, size, requires_grad=True)
        y = conv(x)
        g = torch.randn_like(y)
        (reference,) = torch.autograd.grad(y, x, g)
        sums = _tap_sum_input_grad(conv.weight, g, tuple(x.shape), conv.stride, conv.padding, conv.dilation)
        torch.testing.assert_close(sums, reference, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(conv_input_grad(conv, g, tuple(x.shape)), reference, rtol=1e-5, atol=1e-5)
    assert TAP_SUM_PIXELS <= 2 * 32 * 32  # the middle case takes the shifted sums through conv_input_grad too
