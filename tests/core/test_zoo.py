"""Every convolutional classification builder of torchvision opens, lists its layers and projects; the
projections of each kind of part (Hardswish, SiLU, channels-last GELU, concatenation, chunks,
transform_input) match an independent autograd reference and Captum."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision.models as M
from torch import nn
from torchvision.models import get_model_weights
from zoo_helpers import build, input_size, reference

from explorer.core import activations, layers, project
from explorer.core.graph import model_graph
from explorer.core.projection import Projector, layer_outputs
from explorer.core.receptive import receptive_box

METHODS = ("deconvnet", "guided", "gradient")

# The smallest builder of each family and every other builder of at most 8 GFLOPs at up to 300 px run by
# default; the larger ones (up to 375 GFLOPs, and 10-16 GB to project, at 600 px) only with `-m slow`.
DEFAULT = [
    "alexnet",
    "vgg11",
    "resnet18",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "regnet_x_400mf",
    "regnet_y_400mf",
    "densenet121",
    "googlenet",
    "inception_v3",
    "squeezenet1_0",
    "squeezenet1_1",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mnasnet0_5",
    "shufflenet_v2_x0_5",
    "efficientnet_b0",
    "efficientnet_v2_s",
    "convnext_tiny",
]
# Transformers, not CNNs: their tokens are no spatial maps of an activation.
NOT_CONVOLUTIONAL = ("vit_", "swin_", "maxvit_")
ZOO = [n for n in M.list_models(module=M) if not n.startswith(NOT_CONVOLUTIONAL)]
REST = [n for n in ZOO if n not in DEFAULT]


def _large(name: str) -> bool:
    weights = get_model_weights(name).DEFAULT
    return weights.meta["_ops"] > 8 or weights.transforms().crop_size[0] > 300


GIANTS = [n for n in REST if _large(n)]


def _skip_unless_slow_asked(request) -> None:
    """The large builders of the zoo (regnet_y_128gf at 384 px needs about 10 GB) run when asked for, with `-m slow`."""
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("the zoo's large builders run with -m slow")


@pytest.mark.giant
@pytest.mark.parametrize("name", GIANTS)
def test_every_large_builder_opens_at_its_size_and_projects_its_last_layer(name, request):
    """The builders the default run leaves out (up to 375 GFLOPs, 600 px, 7 GB): run by CI one at a time."""
    expr = request.config.getoption("markexpr") or ""
    if "giant" not in expr or "not giant" in expr:
        pytest.skip("the zoo's large builders run with -m giant (CI runs them one at a time)")
    model = build(name)
    size = input_size(name)
    found = layers(model)
    assert found, f"{name}: no selectable layer"
    torch.manual_seed(1)
    projector = Projector(model, torch.rand(1, 3, size, size), found[-1].name)
    strongest = int(projector.activations.sum((0, 2, 3)).argmax())  # feature 0 may be silent on this input
    out = projector.project([strongest], method="deconvnet")
    assert out.shape == (1, 1, 3, size, size) and torch.isfinite(out).all() and out.abs().sum() > 0


def test_the_default_run_covers_every_family():
    assert set(DEFAULT) <= set(ZOO)
    families = {n.split("_")[0].rstrip("0123456789") for n in ZOO}
    assert families <= {n.split("_")[0].rstrip("0123456789") for n in DEFAULT} | {"wide"}


def _three(names: list[str]) -> list[str]:
    return list(dict.fromkeys([names[0], names[len(names) // 2], names[-1]]))


@pytest.mark.parametrize("name", [*DEFAULT, *(pytest.param(n, marks=pytest.mark.slow) for n in REST)])
def test_every_builder_opens_and_projects(name, request):
    if name in GIANTS:
        _skip_unless_slow_asked(request)
    model = build(name)
    size = input_size(name)
    found = layers(model)
    assert found, f"{name}: no selectable layer"
    torch.manual_seed(1)
    x = torch.rand(1, 3, size, size)
    for layer in _three([lay.name for lay in found]):
        projector = Projector(model, x, layer)
        assert projector.activations.shape[1:] == (
            model_graph(model).layer(layer).channels,
            *model_graph(model).layer(layer).size,
        )
        for method in METHODS:
            out = projector.project([0], method=method)
            assert out.shape == (1, 1, 3, size, size), f"{name} {layer} {method}"
            assert torch.isfinite(out).all(), f"{name} {layer} {method}"


def _strongest(model, x, layer: str, n: int = 2) -> list[int]:
    return activations(model, x, layer).sum((0, 2, 3)).argsort(descending=True)[:n].tolist()


def _assert_matches_reference(model, x, layer_names, methods=METHODS):
    graph = model_graph(model)
    for name in layer_names:
        layer = graph.layer(name)
        feats = _strongest(model, x, name)
        projector = Projector(model, x, name)
        for method in methods:
            ours = projector.project(feats, method=method)
            ref = reference(model, x, layer.node, layer.channels, feats, method)
            scale = ref.abs().max().item()
            assert scale > 0, f"{name} {method}: a zero reference proves nothing"
            torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * scale, msg=f"{name} {method}")


# name: what its way down exercises. Float64 at 64 px (the last stage's maps are 2x2).
KINDS = {
    "mobilenet_v3_small": "Hardswish, ReLU, squeeze-excitation",
    "efficientnet_b0": "SiLU, squeeze-excitation",
    "convnext_tiny": "channels-last GELU, LayerNorm, layer scale",
    "densenet121": "concatenation",
    "shufflenet_v2_x0_5": "chunk, transpose, view",
    "googlenet": "transform_input, concatenation",
}


@pytest.mark.parametrize("name", list(KINDS))
def test_projections_match_the_swapped_autograd_reference(name):
    size = 64
    model = build(name, torch.float64, size)
    torch.manual_seed(2)
    x = torch.rand(1, 3, size, size, dtype=torch.float64)
    names = [lay.name for lay in layers(model)]
    _assert_matches_reference(model, x, [names[len(names) // 2], names[-1]])


def photos(size: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Three picture-like images [3, 3, size, size]: smooth gradients, blobs and edges, and textured noise."""
    g = torch.Generator().manual_seed(5)
    t = torch.linspace(0, 1, size, dtype=dtype)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    sky = torch.stack([0.3 + 0.5 * yy, 0.5 + 0.3 * yy, 0.9 - 0.2 * xx])
    blobs = torch.zeros(3, size, size, dtype=dtype)
    for _ in range(6):
        cy, cx, r = torch.rand(3, generator=g, dtype=dtype)
        colour = torch.rand(3, 1, 1, generator=g, dtype=dtype)
        blobs += colour * ((yy - cy) ** 2 + (xx - cx) ** 2 < (0.05 + 0.2 * r) ** 2)
    coarse = torch.rand(1, 3, 8, 8, generator=g, dtype=dtype)
    texture = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]
    texture = texture + 0.1 * torch.sin(40 * math.pi * xx) * torch.cos(25 * math.pi * yy)
    return torch.stack([sky, blobs.clamp(0, 1), texture]).clamp(0, 1)


REAL_PHOTO = Path(__file__).resolve().parents[1] / "data" / "grace_hopper.jpg"


def real_photos(name: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A real photo (tests/data) prepared as the builder's weights prepare it, and its mirror image: [2, 3, S, S]."""
    from PIL import Image

    from explorer.core import load_model, preprocess

    prepare = preprocess(load_model(f"torchvision:{name}", weights="random"))
    x = prepare(Image.open(REAL_PHOTO)).to(dtype)
    return torch.stack([x, x.flip(-1)])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "vgg16"])
def test_projections_at_224_px_on_photos_match_the_reference(name):
    model = build(name, torch.float64)
    x = torch.cat([photos(224)[:1], real_photos(name)[:1]])
    assert x.shape == (2, 3, 224, 224)
    names = [lay.name for lay in layers(model)]
    _assert_matches_reference(model, x, [names[-1]])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing the model in eval mode:UserWarning")
def test_inception_projections_at_299_px_on_a_photo_match_the_reference():
    """(torchvision's feature extractor, the reference, notes that Inception's aux head traces only in training.)"""
    model = build("inception_v3", torch.float64)
    x = real_photos("inception_v3")[:1]
    assert x.shape == (1, 3, 299, 299)
    _assert_matches_reference(model, x, [lay.name for lay in layers(model)][-1:])


@pytest.mark.slow
def test_fill_unpooling_at_224_px_matches_the_reference():
    """The deconvnet's other unpooling, on VGG-16's non-overlapping pools, against test_any_model's reference
    (autograd with each max-pool's way back swapped for filling its window)."""
    from test_any_model import reference as swapped_reference

    torch.manual_seed(0)
    model = M.vgg16().double().eval()  # unwrapped: the reference hooks the model's own modules by name
    model.input_size = 224
    x = photos(224)[:1]
    name = layers(model)[-3].name  # conv5_1: four pools below it
    feats = _strongest(model, x, name)
    ours = Projector(model, x, name).project(feats, method="deconvnet", unpool="fill")
    ref = swapped_reference(model, x, name, feats, "deconvnet", "fill", "map")
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


class _ReLU6AsCaptumSeesIt(nn.ReLU):
    """ReLU6 forward in an nn.ReLU, so that Captum (which hooks nn.ReLU only) rectifies the signal there too."""

    def forward(self, x):
        return F.relu6(x)


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
@pytest.mark.parametrize(
    ("name", "module_name"), [("efficientnet_b0", "features.2.0.block.1"), ("mobilenet_v2", "features.4.conv.1")]
)
@pytest.mark.parametrize("method", ["deconvnet", "guided"])
def test_projections_match_captum(name, module_name, method):
    from captum.attr import NeuronDeconvolution, NeuronGuidedBackprop

    size = 64
    model = build(name, torch.float64, size)
    theirs = copy.deepcopy(model)
    for parent in theirs.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, child_name, _ReLU6AsCaptumSeesIt())
            elif hasattr(child, "inplace"):
                child.inplace = False
    torch.manual_seed(3)
    x = torch.rand(1, 3, size, size, dtype=torch.float64)
    layer = module_name  # a Conv2dNormActivation: torchvision names its activation's output by the block
    target = theirs.inner.get_submodule(module_name)
    cls = NeuronDeconvolution if method == "deconvnet" else NeuronGuidedBackprop
    algo = cls(theirs, target)
    for f in _strongest(model, x, layer):
        ref = algo.attribute(
            x.clone().requires_grad_(True), neuron_selector=lambda out, f=f: 0.5 * (out[:, f] ** 2).sum((1, 2))
        )
        ours = project(model, x, layer, [f], method=method)[:, 0]
        assert ref.abs().max() > 0
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_convnext_layers_are_channels_first_views_of_its_gelus():
    model = build("convnext_tiny")
    found = {lay.name: lay for lay in layers(model)}
    layer = found["features.1.0.block.4"]
    # the GELU of the first block: 4 x 96 channels at 56 x 56; stem 4x4 stride 4, then a 7x7 depthwise conv
    assert (layer.channels, layer.size, layer.activation) == (384, (56, 56), "GELU")
    assert (layer.jump, layer.lo, layer.hi) == (4, -12, 15)
    assert all(lay.activation == "GELU" for lay in found.values()) and len(found) == 18
    x = torch.rand(2, 3, 224, 224)
    seen = {}
    hook = model.inner.features[1][0].block[4].register_forward_hook(lambda _m, _i, out: seen.setdefault("out", out))
    try:
        model(x)
    finally:
        hook.remove()
    ours = activations(model, x, "features.1.0.block.4")
    assert ours.shape == (2, 384, 56, 56) and ours.is_contiguous()
    torch.testing.assert_close(ours, seen["out"].permute(0, 3, 1, 2), rtol=0, atol=0)


@pytest.mark.parametrize(("name", "layer"), [("convnext_tiny", "features.1.0.block.4"), ("googlenet", "conv2.relu")])
def test_receptive_boxes_by_experiment(name, layer):
    """Through a channels-last block and through transform_input, the pixels that move a unit lie in its box and reach its edges."""
    size = 32
    model = build(name, torch.float64, size)
    torch.manual_seed(4)
    x = torch.rand(1, 3, size, size, dtype=torch.float64)
    row = col = activations(model, x, layer).shape[2] // 2
    top, left, bottom, right = receptive_box(model, layer, row, col, size)
    assert 0 < bottom - top < size
    base = activations(model, x, layer)[0, :, row, col]
    y = x.repeat(size * size, 1, 1, 1)
    n = torch.arange(size * size)
    y[n, :, n // size, n % size] += 1.0
    after = torch.cat([activations(model, part, layer)[:, :, row, col] for part in y.split(512)])
    moved = (after - base).abs().amax(1).view(size, size) > 1e-9 * base.abs().max().item()
    rows, cols = moved.nonzero(as_tuple=True)
    assert rows.min() == top and rows.max() == bottom - 1 and cols.min() == left and cols.max() == right - 1


def _not_in_place(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return twin


def test_in_place_activations_leave_the_model_and_the_recorded_values_alone():
    model = build("mobilenet_v3_small", size=112)
    x = torch.rand(2, 3, 112, 112)
    with torch.no_grad():
        before = model(x)
    names = [lay.name for lay in layers(model)]
    for method in METHODS:
        assert torch.isfinite(project(model, x, names[-1], [0, 1], method=method)).all()
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=0, atol=0)
    plain = _not_in_place(model)
    ours, theirs = model_graph(model).run(x, None), model_graph(plain).run(x, None)
    assert len(ours) == len(theirs)
    for (node, a), b in zip(ours.items(), theirs.values(), strict=True):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=str(node))
    for a, b in zip(layer_outputs(model, x, names).values(), layer_outputs(plain, x, names).values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


class _InPlaceEverywhere(nn.Module):
    """In-place module, function, method and operator forms, and a later reader of an overwritten tensor."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.Hardswish(inplace=True)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.leaky = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x):
        a = self.conv1(x)
        b = a.mul_(2.0)  # `a` is now `b`, and then `c`: the add at the end reads the Hardswish's output
        c = self.act(b)
        d = F.relu(self.conv2(c), inplace=True)
        d.add_(c)
        e = self.leaky(torch.tanh_(self.conv2(d)) + a)
        return e.mean((2, 3))


def test_in_place_forms_record_what_their_readers_saw():
    torch.manual_seed(0)
    model = _InPlaceEverywhere().double().eval()
    model.input_size = 16
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    expected = model(x.clone())
    graph = model_graph(model)
    values = graph.run(x, None)
    out = next(n for n in graph.gm.graph.nodes if n.op == "output").args[0]
    torch.testing.assert_close(values[out], expected, rtol=0, atol=0)
    kinds = [(lay.name, lay.activation) for lay in layers(model)]
    assert kinds == [("act", "Hardswish"), ("relu", "ReLU"), ("tanh_", "Tanh"), ("leaky", "LeakyReLU")]
    for method in METHODS:
        ours = project(model, x, "leaky", [0, 3], method=method)
        xi = x.clone().requires_grad_(True)
        ref = reference_by_hand(model, xi, method)
        for i, f in enumerate([0, 3]):
            (g,) = torch.autograd.grad(ref[:, f], xi, ref[:, f].detach(), retain_graph=True)
            torch.testing.assert_close(ours[:, i], g)


def reference_by_hand(model: _InPlaceEverywhere, x: torch.Tensor, method: str) -> torch.Tensor:
    """The model's forward written out of place, under the swapped rectifiers."""
    from zoo_helpers import SwappedRectifiers

    with SwappedRectifiers(method):
        a = model.conv1(x) * 2.0
        c = F.hardswish(a)
        d = F.relu(model.conv2(c)) + c
        return F.leaky_relu(torch.tanh(model.conv2(d)) + c, 0.1)


class _EveryOtherActivation(nn.Module):
    """Each elementwise activation torch has beyond the zoo's, as module, function and method, on spatial maps."""

    def __init__(self, leaky_slope: float | None = None):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1) for i in range(12))
        self.rrelu = nn.RReLU(0.1, 0.3) if leaky_slope is None else nn.LeakyReLU(leaky_slope)
        self.sigmoid = nn.Sigmoid()
        self.hardsigmoid = nn.Hardsigmoid()
        self.logsigmoid = nn.LogSigmoid()
        self.softsign = nn.Softsign()
        self.threshold = nn.Threshold(0.1, -1.0)
        self.tanhshrink = nn.Tanhshrink()
        self.softshrink = nn.Softshrink(0.2)
        self.hardshrink = nn.Hardshrink(0.2)

    def forward(self, x):
        c = iter(self.convs)
        x = self.rrelu(next(c)(x))
        for name in ("sigmoid", "hardsigmoid", "logsigmoid", "softsign", "threshold", "tanhshrink"):
            x = getattr(self, name)(next(c)(x))
        x = self.hardshrink(self.softshrink(next(c)(x)))
        x = torch.sigmoid(next(c)(x))
        x = next(c)(x).sigmoid()
        return next(c)(x).mean((2, 3))


def test_every_elementwise_activation_is_a_layer_and_projects_by_its_rule():
    torch.manual_seed(0)
    model = _EveryOtherActivation().double().eval()
    model.input_size = 8
    names = [(lay.name, lay.activation) for lay in layers(model)]
    assert names == [
        ("rrelu", "RReLU"),
        ("sigmoid", "Sigmoid"),
        ("hardsigmoid", "Hardsigmoid"),
        ("logsigmoid", "LogSigmoid"),
        ("softsign", "Softsign"),
        ("threshold", "Threshold"),
        ("tanhshrink", "Tanhshrink"),
        ("softshrink", "Softshrink"),
        ("hardshrink", "Hardshrink"),
        ("sigmoid_1", "Sigmoid"),
        ("sigmoid_2", "Sigmoid"),
    ]
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    top = names[-1][0]
    # The RReLU rectifies as the LeakyReLU it is in evaluation (slope (0.1 + 0.3) / 2); the others pass the
    # signal by their gradient.
    leaky = _EveryOtherActivation(leaky_slope=0.2).double().eval()
    leaky.load_state_dict(model.state_dict())
    leaky.input_size = 8
    for method in METHODS:
        ours = project(model, x, top, [0, 2], method=method)
        same = project(leaky, x, top, [0, 2], method=method)
        torch.testing.assert_close(ours, same)
    # The gradient against autograd through the whole stack.
    from torchvision.models.feature_extraction import create_feature_extractor

    extractor = create_feature_extractor(model, return_nodes={top: "out"})
    xi = x.clone().requires_grad_(True)
    a = extractor(xi)["out"][:, 2]
    (g,) = torch.autograd.grad(a, xi, a.detach())
    torch.testing.assert_close(project(model, x, top, [2], method="gradient")[:, 0], g)
