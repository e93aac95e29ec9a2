"""The explorer's own tracer names nodes exactly as torchvision's get_graph_node_names does.

The engine traces without importing torchvision (about 2 s of start-up); these tests hold its names
to torchvision's, node for node and in order, for every model family the explorer supports and for
hand-made graphs that exercise the naming rule's corners (repeated modules, repeated functions,
names that already end in a number, nested blocks, residual additions).
"""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.models.feature_extraction import NodePathTracer, _set_default_tracer_kwargs, get_graph_node_names

from explorer.core.graph import layers
from explorer.core.loading import load_model
from explorer.core.node_names import NodeNameTracer


def _ours(model: nn.Module) -> list[str]:
    tracer = NodeNameTracer()
    tracer.trace(model.eval())
    return list(tracer.node_to_qualname.values())


def _torchvision(model: nn.Module) -> list[str]:
    # with the settings get_graph_node_names traces with (torchvision.ops modules are leaves)
    tracer = NodePathTracer(**_set_default_tracer_kwargs(None))
    tracer.trace(model.eval())
    return list(tracer.node_to_qualname.values())


class Repeats(nn.Module):
    """One ReLU module called three times, functional and method ReLUs, a block used twice, digits in names."""

    def __init__(self):
        super().__init__()
        self.conv_1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.add_2 = nn.Identity()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        a = self.relu(self.conv_1(x))
        b = self.block(a)
        b = self.block(b) + a
        c = F.relu(b) + torch.relu(b) + b.relu()
        c = self.relu(self.add_2(c)) + self.relu(c)
        c = self.pool(F.max_pool2d(c, 1))
        return torch.flatten(c, 1).sum(1, keepdim=True)


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return F.relu(self.conv(x)) + F.relu(x)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.layer1 = nn.Sequential(Inner(), Inner())
        self.layer11 = Inner()

    def forward(self, x):
        x = self.layer1(self.stem(x))
        return self.layer11(self.layer1(x)).mean((2, 3))


# The last five go through torchvision.ops modules (Conv2dNormActivation, SqueezeExcitation, Permute,
# StochasticDepth), which torchvision names as one node each; the explorer traces through them.
TORCHVISION = [
    "alexnet",
    "vgg11",
    "vgg11_bn",
    "resnet18",
    "resnet50",
    "densenet121",
    "shufflenet_v2_x0_5",
    "efficientnet_b0",
    "convnext_tiny",
    "mobilenet_v3_small",
]


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_models_are_named_as_torchvision_names_them(name):
    model = getattr(torchvision.models, name)(weights=None)
    ours = _ours(model)
    assert ours == _torchvision(model)
    _, eval_names = get_graph_node_names(model)
    assert ours == eval_names
    # every layer is a node torchvision's feature extractor can return
    assert {lay.node for lay in layers(model)} <= set(eval_names)


@pytest.mark.parametrize("model", [Repeats(), Nested()], ids=["repeats", "nested"])
def test_the_naming_rule_corners_match(model):
    ours = _ours(model)
    assert ours == _torchvision(model)
    assert ours == get_graph_node_names(model)[1]
    assert len(set(ours)) == len(ours)  # every node has a name of its own


@pytest.mark.parametrize("spec", ["seednet", "zfnet-cifar"])
def test_bundled_models_keep_their_names(spec):
    model = load_model(spec)
    assert _ours(model) == _torchvision(model)


def test_a_normalising_wrapper_names_nodes_as_the_model_it_holds():
    plain = load_model("seednet")
    wrapped = load_model("seednet", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert [lay.node for lay in layers(wrapped)] == [lay.node for lay in layers(plain)]


PARTS = st.sampled_from(["relu_module", "relu_fn", "relu_method", "conv", "pool", "add", "block"])


class Random(nn.Module):
    """A chain of parts drawn by hypothesis; modules are shared between draws to force repeats."""

    def __init__(self, parts):
        super().__init__()
        self.parts = parts
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(3, 3, 1)
        self.conv_3 = nn.Conv2d(3, 3, 1)
        self.block = Inner3()
        self.pool = nn.MaxPool2d(1)

    def forward(self, x):
        for i, part in enumerate(self.parts):
            if part == "relu_module":
                x = self.relu(x)
            elif part == "relu_fn":
                x = F.relu(x)
            elif part == "relu_method":
                x = x.relu()
            elif part == "conv":
                x = (self.conv if i % 2 else self.conv_3)(x)
            elif part == "pool":
                x = self.pool(x)
            elif part == "add":
                x = x + x
            else:
                x = self.block(x)
        return x


class Inner3(nn.Module):
    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x) + F.relu(x)


@settings(max_examples=40, deadline=None)
@given(st.lists(PARTS, min_size=1, max_size=14))
def test_random_chains_are_named_as_torchvision_names_them(parts):
    model = Random(parts)
    assert _ours(model) == _torchvision(model)
