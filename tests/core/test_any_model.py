"""Projections on any traced CNN, against an independent reference: autograd with the ReLU's (and for
`fill`, the max-pool's) way back swapped by module hooks, and Captum's NeuronDeconvolution and
NeuronGuidedBackprop."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from explorer.core import activations, layers, project
from explorer.core.errors import ModelError
from explorer.core.graph import model_graph
from explorer.core.model import SeedNet
from explorer.core.receptive import receptive_box
from explorer.core.zfnet import ZFNetCifar

COMBOS = [("deconvnet", "switches"), ("deconvnet", "fill"), ("guided", "switches"), ("gradient", "switches")]


class _Reached(Exception):
    pass


class _SwappedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, method):
        ctx.save_for_backward(z)
        ctx.method = method
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        if ctx.method == "deconvnet":
            return g.clamp(min=0), None
        if ctx.method == "guided":
            return g.clamp(min=0) * (z > 0), None
        return g * (z > 0), None


class _FillPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.shape, ctx.k = x.shape, k
        return F.max_pool2d(x, k)

    @staticmethod
    def backward(ctx, g):
        up = F.interpolate(g, scale_factor=ctx.k, mode="nearest")
        out = g.new_zeros(ctx.shape)
        h, w = min(up.shape[2], out.shape[2]), min(up.shape[3], out.shape[3])
        out[:, :, :h, :w] = up[:, :, :h, :w]
        return out, None


def _randomised(model: nn.Module, dtype: torch.dtype = torch.float64) -> nn.Module:
    """BatchNorm statistics that are not the identity; double precision for the small models."""
    torch.manual_seed(0)
    model = model.to(dtype).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


def reference(model, x, layer, features, method, unpool, keep):
    """[B, F, 3, H, W] by autograd on a copy of the model whose ReLUs (and pools) have the swapped way back."""
    graph = model_graph(model)
    node = graph.layer(layer).node
    inplace = {mod: mod.inplace for mod in model.modules() if isinstance(mod, nn.ReLU)}
    module_name, call = node, 0
    m = re.fullmatch(r"(.*)_(\d+)", node)
    if m and not isinstance(_get(model, node), nn.Module):
        module_name, call = m.group(1), int(m.group(2))
    target = _get(model, module_name)
    hooks, seen = [], {"calls": 0, "out": None}
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
            hooks.append(mod.register_forward_hook(lambda _m, inp, _out: _SwappedReLU.apply(inp[0], method)))
        if isinstance(mod, nn.MaxPool2d) and unpool == "fill":
            hooks.append(mod.register_forward_hook(lambda mm, inp, _out: _FillPool.apply(inp[0], mm.kernel_size)))

    def grab(_m, _inp, out):
        if seen["calls"] == call:
            seen["out"] = out
            raise _Reached  # the layers above play no part (and may not fit other input sizes)
        seen["calls"] += 1

    hooks.append(target.register_forward_hook(grab))
    outs = []
    try:
        xi = x.clone().requires_grad_(True)
        with pytest.raises(_Reached):
            model(xi)
        for f in features:
            a = seen["out"][:, f]
            if keep == "map":
                sig = a.detach()
            else:
                flat = a.detach().flatten(1)
                idx = flat.argmax(1, keepdim=True)
                sig = torch.zeros_like(flat).scatter_(1, idx, flat.gather(1, idx)).view_as(a)
            (g,) = torch.autograd.grad(a, xi, sig, retain_graph=True)
            outs.append(g)
    finally:
        for h in hooks:
            h.remove()
        for mod, flag in inplace.items():
            mod.inplace = flag
    return torch.stack(outs, 1)


def _get(model, name):
    obj = model
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _vgg():
    return torchvision.models.vgg11_bn(num_classes=10)


def _resnet():
    return torchvision.models.resnet18(num_classes=10)


# name: (builder, input sizes, dtype). The torchvision models run in float32 (float64 convolutions
# are slow on the CPU), compared at float32 precision.
MODELS = {
    "seednet": (SeedNet, (32,), torch.float64),
    "zfnet": (ZFNetCifar, (32, 40), torch.float64),
    "vgg11_bn": (_vgg, (32, 40), torch.float32),
    "resnet18": (_resnet, (32, 48), torch.float32),
}
TOLERANCE = {torch.float64: 1e-9, torch.float32: 2e-4}


def _pick(names: list[str]) -> list[str]:
    """The first layer, and the last (the way down through every kind of part)."""
    return [names[0], names[-1]] if len(names) > 1 else names


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("keep", ["map", "max"])
@pytest.mark.parametrize(("method", "unpool"), COMBOS)
def test_every_method_matches_autograd_with_swapped_rules(name, method, unpool, keep):
    build, sizes, dtype = MODELS[name]
    model = _randomised(build(), dtype)
    names = [lay.name for lay in layers(model)]
    tol = TOLERANCE[dtype]
    for size in sizes:
        torch.manual_seed(size)
        x = torch.rand(2, 3, size, size, dtype=dtype)
        for layer in _pick(names):
            # the two most active features and the last one (a random BatchNorm leaves some dead)
            strength = activations(model, x, layer).sum((0, 2, 3))
            feats = [*strength.argsort(descending=True)[:2].tolist(), len(strength) - 1]
            try:
                ours = project(model, x, layer, feats, method=method, unpool=unpool, keep=keep)
            except ValueError as exc:
                # fill is refused by name only where a pool overlaps (ResNet's stem)
                assert unpool == "fill" and name == "resnet18" and "maxpool" in str(exc)
                continue
            ref = reference(model, x, layer, feats, method, unpool, keep)
            assert ours.shape == (2, 3, 3, size, size)
            assert ref[:, :2].abs().amax((2, 3, 4)).min() > 0, f"{name} {layer}: a zero reference proves nothing"
            scale = ref.abs().max().item()
            torch.testing.assert_close(ours, ref, rtol=tol, atol=tol * scale, msg=f"{name} {layer} at {size}px")


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
@pytest.mark.parametrize("name", ["zfnet", "vgg11_bn", "resnet18"])
@pytest.mark.parametrize("method", ["deconvnet", "guided"])
def test_projections_match_captum(name, method):
    from captum.attr import NeuronDeconvolution, NeuronGuidedBackprop

    build, _, dtype = MODELS[name]
    model = _randomised(build(), dtype)
    tol = TOLERANCE[dtype]
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32, dtype=dtype, requires_grad=True)
    # Captum hooks modules, so take layers whose ReLU module runs once per forward pass.
    chosen = {"zfnet": ("conv3", "relu3"), "vgg11_bn": ("features.13", "features.13"), "resnet18": ("relu", "relu")}
    layer, module_name = chosen[name]
    for mod in model.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
    cls = NeuronDeconvolution if method == "deconvnet" else NeuronGuidedBackprop
    algo = cls(model, _get(model, module_name))
    strength = activations(model, x.detach(), layer).sum((0, 2, 3))
    for f in strength.argsort(descending=True)[:2].tolist():
        # The gradient of 0.5 * sum(map^2) sends the map itself down, as `keep="map"` does.
        ref = algo.attribute(x, neuron_selector=lambda out, f=f: 0.5 * (out[:, f] ** 2).sum((1, 2)))
        ours = project(model, x.detach(), layer, [f], method=method)[:, 0]
        assert ref.abs().max() > 0
        torch.testing.assert_close(ours, ref, rtol=tol, atol=tol * ref.abs().max().item())


def test_layers_are_graph_nodes_with_sizes_and_fields():
    from torchvision.models.feature_extraction import get_graph_node_names

    resnet = _resnet().eval()
    found = layers(resnet)
    _, eval_names = get_graph_node_names(resnet)
    assert all(lay.node in eval_names for lay in found)
    by = {lay.name: lay for lay in found}
    # ResNet calls one ReLU module twice per block: the block's output is a node of its own.
    assert "layer2.0.relu" in by and "layer2.0.relu_1" in by
    assert by["layer2.0.relu_1"].channels == 128 and by["layer2.0.relu_1"].size == (28, 28)
    vgg = layers(torchvision.models.vgg11())
    assert [lay.name for lay in vgg][:2] == ["features.1", "features.4"]
    assert [lay.name for lay in layers(SeedNet())] == ["conv1", "conv2"]
    assert [lay.name for lay in layers(ZFNetCifar())] == ["conv1", "conv2", "conv3", "conv4", "conv5"]


@pytest.mark.parametrize(("name", "layer"), [("zfnet", "conv3"), ("resnet18", "layer1.0.relu_1")])
def test_receptive_boxes_by_experiment(name, layer):
    """Change one pixel at a time: the position's activation moves only for pixels inside its box, and
    the box is no larger than the pixels that move it (up to the padding's reach)."""
    build, _, dtype = MODELS[name]
    model = _randomised(build(), dtype)
    size = 32
    torch.manual_seed(3)
    x = torch.rand(1, 3, size, size, dtype=dtype)
    row = col = activations(model, x, layer).shape[2] // 2
    top, left, bottom, right = receptive_box(model, layer, row, col, size)
    assert 0 < bottom - top < size, "a box that covers the whole image proves nothing"
    base = activations(model, x, layer)[0, :, row, col]
    y = x.repeat(size * size, 1, 1, 1)
    n = torch.arange(size * size)
    y[n, :, n // size, n % size] += 1.0
    after = activations(model, y, layer)[:, :, row, col]
    # convolutions differ by rounding between batch sizes (float64 too, in 1e-16): count only real changes
    noise = (1e-12 if dtype == torch.float64 else 1e-4) * base.abs().max().item()
    moved = (after - base).abs().amax(1).view(size, size) > noise
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[top:bottom, left:right] = True
    assert not (moved & ~inside).any(), "a pixel outside the box changed the activation"
    rows, cols = moved.nonzero(as_tuple=True)
    assert rows.min() >= top and rows.max() < bottom and cols.min() >= left and cols.max() < right
    # every edge of the box is reached (the box is not too large)
    assert rows.min() == top and rows.max() == bottom - 1 and cols.min() == left and cols.max() == right - 1


@pytest.mark.parametrize("method", ["deconvnet", "guided", "gradient"])
def test_other_activations_pass_the_signal_by_their_gradient(method):
    """A GELU below the layer: every method sends the signal through it by its derivative, as Captum does."""

    class WithGelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
            self.act = nn.GELU()
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4 * 32 * 32, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.relu(self.conv2(self.act(self.conv1(x)))), 1))

    torch.manual_seed(0)
    model = WithGelu().double().eval()
    model.input_size = 32
    assert [(lay.name, lay.activation) for lay in layers(model)] == [("act", "GELU"), ("relu", "ReLU")]
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    ours = project(model, x, "relu", [1], method=method)[:, 0]
    xi = x.clone().requires_grad_(True)
    a = _SwappedReLU.apply(model.conv2(model.act(model.conv1(xi))), method)[:, 1]
    (ref,) = torch.autograd.grad(a, xi, a.detach())
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref)


def test_untraceable_model_gets_one_clear_message():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.relu = nn.ReLU()

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                return self.relu(self.conv(x)).mean((2, 3))
            return x.mean((2, 3))

    with pytest.raises(ModelError, match=r"Branchy: torch.fx cannot trace it"):
        layers(Branchy())


def test_projection_leaves_no_state_on_the_model():
    model = ZFNetCifar().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks_before = sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )
    project(model, torch.rand(1, 3, 32, 32), "conv3", [0, 1])
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert hooks_before == sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )
    assert set(vars(model)) == set(vars(ZFNetCifar()))


def test_tracing_leaves_other_threads_model_calls_alone():
    """torch.fx patches nn.Module.__call__ process-wide while it traces; a forward pass in another
    thread at that moment must run as usual, and two traces must not interleave."""
    import threading

    from explorer.core.graph import ModelGraph

    busy = SeedNet().eval()
    x = torch.rand(2, 3, 32, 32)
    expected = busy(x)
    errors: list[BaseException] = []
    stop = threading.Event()

    def forward_loop():
        while not stop.is_set():
            try:
                torch.testing.assert_close(busy(x), expected)
            except BaseException as exc:
                errors.append(exc)
                return

    def trace_loop():
        try:
            for _ in range(15):
                ModelGraph(ZFNetCifar().eval())
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=forward_loop),
        threading.Thread(target=trace_loop),
        threading.Thread(target=trace_loop),
    ]
    for t in threads:
        t.start()
    threads[1].join()
    threads[2].join()
    stop.set()
    threads[0].join()
    assert not errors, errors[0]


class _Aliasing(nn.Module):
    """A ReLU over an Identity (its output is its input) and over a conv whose output is read again after it."""

    def __init__(self):
        super().__init__()
        self.same = nn.Identity()
        self.r0 = nn.ReLU()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.r1 = nn.ReLU()
        self.r2 = nn.ReLU()

    def forward(self, x):
        a = self.r0(self.same(x))
        c = self.conv(a)
        return self.r2(self.r1(c) - c)


@pytest.mark.parametrize("make", [SeedNet, ZFNetCifar, _Aliasing, lambda: torchvision.models.resnet18(num_classes=10)])
def test_maps_only_passes_rectify_in_place_with_the_same_maps_and_nothing_else_overwritten(make, monkeypatch):
    from explorer.core import graph as graph_module
    from explorer.core.projection import layer_outputs

    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(2, 3, 32, 32)
    kept = x.clone()
    names = [lay.name for lay in layers(model)]
    fast = layer_outputs(model, x, names)
    monkeypatch.setattr(graph_module, "_INPLACE_OFF", True)
    plain = layer_outputs(model, x, names)
    assert torch.equal(x, kept)  # the caller's images are never written
    for name in names:
        torch.testing.assert_close(fast[name], plain[name], rtol=0, atol=0)


@pytest.mark.parametrize(
    "make", [SeedNet, ZFNetCifar, _Aliasing, lambda: torchvision.models.resnet18(num_classes=10),
             lambda: torchvision.models.vgg11_bn(num_classes=10)]
)  # fmt: skip
def test_projections_rectify_in_place_on_the_way_up_and_draw_the_same_pictures(make, monkeypatch):
    """A projection's forward pass lets each ReLU overwrite its conv's (or BatchNorm's) fresh output: every method's
    picture, of every layer, equals the one of a pass with every ReLU out of place, and the images are not written."""
    from explorer.core import graph as graph_module

    torch.manual_seed(0)
    model = make().eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):  # statistics of their own, so the scales are not all one
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 32, 32)
    kept = x.clone()
    names = [lay.name for lay in layers(model)]
    chosen = sorted({names[0], names[len(names) // 2], names[-1]})
    fast = {(n, m): project(model, x, n, [0, 1], method=m) for n in chosen for m in ("deconvnet", "guided", "gradient")}
    monkeypatch.setattr(graph_module, "_INPLACE_OFF", True)
    for (name, method), picture in fast.items():
        torch.testing.assert_close(picture, project(model, x, name, [0, 1], method=method), rtol=0, atol=0)
    assert torch.equal(x, kept)
