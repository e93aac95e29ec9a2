"""Activation maximization: known patterns come back, the dataset's best is beaten, seeds and batches behave."""

import math
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from explorer.core import activations, load_model, maximize
from explorer.core.graph import model_graph
from explorer.core.synthesis import MaximizeCancelled, _own_maps, feature_response, unit_window
from explorer.core.zfnet import ZFNetCifar

K = 7


def _grating() -> torch.Tensor:
    """A diagonal grating, the same in every colour channel, zero mean."""
    t = torch.arange(K, dtype=torch.float32) - K // 2
    wave = torch.cos(2 * math.pi * (t[:, None] + t[None, :]) / 8)
    return (wave - wave.mean()).expand(3, K, K).clone()


def _colour_blob() -> torch.Tensor:
    """A red centre on a green-and-blue surround: a colour-opponent blob."""
    t = torch.arange(K, dtype=torch.float32) - K // 2
    g = torch.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / 4)
    g = g - g.mean()
    return torch.stack([g, -g, -g])


class PatternNet(nn.Module):
    """One conv layer whose two filters are a grating and a colour blob, rectified."""

    input_size = 32
    layer_aliases: ClassVar[dict[str, str]] = {"relu": "patterns"}

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, K, padding=K // 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([_grating(), _colour_blob()]))
            self.conv.bias.zero_()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))


# The Fourier parameterization's 1/f prior smooths a 7x7 pattern's sharp surround (the blob's
# centre comes out red, its corners paler than cyan), so it is held to a lower bar.
@pytest.mark.parametrize(("param", "lr", "least"), [("pixel", 0.05, 0.8), ("fourier", 0.15, 0.5)])
def test_synthesized_image_shows_the_filters_pattern(param, lr, least):
    model = PatternNet().eval()
    images = maximize(model, "patterns", None, param=param, lr=lr)
    assert images.shape == (2, 3, 32, 32) and images.min() >= 0 and images.max() <= 1
    c = 16 - K // 2
    for f in range(2):
        patch = images[f, :, c : c + K, c : c + K].flatten()
        pattern = model.conv.weight[f].detach().flatten()
        r = np.corrcoef(patch.numpy(), pattern.numpy())[0, 1]
        assert r > least, f"{param}: feature {f}'s central patch correlates {r:.2f} with its filter"
        # and not with the other filter: the image is the feature's own
        other = model.conv.weight[1 - f].detach().flatten()
        assert abs(np.corrcoef(patch.numpy(), other.numpy())[0, 1]) < 0.5


def test_unit_window_gives_the_same_centre_unit_as_the_whole_image():
    torch.manual_seed(0)
    for model in (load_model("seednet"), ZFNetCifar().eval()):
        graph = model_graph(model)
        x = torch.rand(2, 3, 32, 32)
        for layer in graph.layers:
            pre = graph.by_name[layer.node].all_input_nodes[0]
            rows, cols, r, c = unit_window(layer, 32)
            whole = graph.run(x, [pre])[pre][:, :, layer.size[0] // 2, layer.size[1] // 2]
            crop = graph.run(x[:, :, rows, cols], [pre])[pre][:, :, r, c]
            torch.testing.assert_close(crop, whole, rtol=0, atol=1e-5)


@pytest.mark.realdata
def test_seednet_conv2_beats_the_datasets_best(cifar_dir, bundled_model_path):
    from explorer.core.datasets import open_dataset

    model = load_model()
    feats = list(range(0, 64, 4))
    x = open_dataset(str(cifar_dir), "test").tensor(slice(0, 2000))
    # the dataset's strongest response anywhere in each feature's map
    best = activations(model, x, "conv2")[:, feats].amax(dim=(0, 2, 3))
    reached = feature_response(model, maximize(model, "conv2", feats), "conv2", feats)
    ratio = reached / best
    assert (ratio >= 1).float().mean() >= 0.9, f"ratios to the dataset's best: {ratio.numpy().round(2)}"


def test_deterministic_for_a_seed_and_different_for_another():
    model = load_model()
    a = maximize(model, "conv2", [5, 9], steps=10)
    b = maximize(model, "conv2", [5, 9], steps=10)
    c = maximize(model, "conv2", [5, 9], steps=10, seed=1)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.05


@pytest.mark.parametrize("param", ["pixel", "fourier"])
@pytest.mark.parametrize("objective", ["unit", "channel"])
def test_a_features_image_does_not_depend_on_its_batch(param, objective):
    model = load_model()
    alone = maximize(model, "conv2", [9], steps=12, param=param, objective=objective)
    together = maximize(model, "conv2", [40, 9, 3, 63], steps=12, param=param, objective=objective)
    assert torch.equal(alone[0], together[1])


def test_cancel_stops_between_steps_and_progress_counts():
    model = load_model()
    seen: list[tuple[int, int]] = []
    images: list[torch.Tensor] = []
    with pytest.raises(MaximizeCancelled):
        maximize(
            model,
            "conv2",
            [1, 2],
            steps=50,
            progress=lambda done, total: seen.append((done, total)),
            should_stop=lambda: len(seen) >= 3,
            on_step=lambda step, x: images.append(x),
        )
    assert seen == [(1, 50), (2, 50), (3, 50)]
    assert len(images) == 3 and images[0].shape == (2, 3, 32, 32)


def test_bad_arguments_are_named():
    model = load_model()
    with pytest.raises(ValueError, match="unknown layer"):
        maximize(model, "conv9")
    with pytest.raises(ValueError, match="out of range"):
        maximize(model, "conv2", [64])
    with pytest.raises(ValueError, match="objective"):
        maximize(model, "conv2", [0], objective="max")
    with pytest.raises(ValueError, match="param"):
        maximize(model, "conv2", [0], param="wavelet")
    assert maximize(model, "conv2", []).shape == (0, 3, 32, 32)


def test_own_filter_shortcut_equals_the_whole_layer():
    """The grouped conv of each image's own filter (with BatchNorm folded in) gives the layer's own maps."""
    torch.manual_seed(3)
    model = ZFNetCifar().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)
    graph = model_graph(model)
    feats = [7, 0, 95]
    x = torch.rand(3, 3, 32, 32)
    for name in ("conv2", "conv5"):
        pre = graph.by_name[graph.layer(name).node].all_input_nodes[0]
        own = _own_maps(graph, pre, feats, torch.device("cpu"))(x)
        whole = graph.run(x, [pre])[pre][torch.arange(3), torch.tensor(feats)]
        torch.testing.assert_close(own, whole, rtol=1e-5, atol=1e-5)
