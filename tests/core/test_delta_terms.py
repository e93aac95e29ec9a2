"""explain_delta: the seed's delta x weight sum against autograd, the step below, and rot180 worked by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.backprop import conv_layers, explain_delta, rot180
from explorer.core.model import SeedNet
from explorer.core.zfnet import ZFNetCifar


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = model.double()
    with torch.no_grad():  # BatchNorm with statistics and scales of its own, so it is not the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0, 0.2)
    return model.train()  # explain_delta must switch to eval and back


def _autograd_input_grad(model: nn.Module, x: torch.Tensor, label: int, layer: str) -> torch.Tensor:
    """dC/d(the conv's input) [C, H, W], by retain_grad and backward: no code shared with explain_delta."""
    seen: list[torch.Tensor] = []
    handle = model.get_submodule(layer).register_forward_pre_hook(lambda _m, inp: seen.append(inp[0]))
    was = model.training
    model.eval()
    try:
        leaf = x.unsqueeze(0).clone().requires_grad_(True)
        logits = model(leaf)
        seen[0].retain_grad()
        F.cross_entropy(logits, torch.tensor([label])).backward()
    finally:
        handle.remove()
        model.train(was)
    return seen[0].grad[0]


POSITIONS = ("corner", "far corner", "top edge", "interior")


def _position(name: str, h: int, w: int) -> tuple[int, int]:
    return {"corner": (0, 0), "far corner": (h - 1, w - 1), "top edge": (0, w // 2), "interior": (h // 2, w // 3)}[name]


@pytest.mark.parametrize(
    ("model_cls", "layer"),
    [(SeedNet, "conv1"), (SeedNet, "conv2")] + [(ZFNetCifar, f"conv{i}") for i in range(1, 6)],
)
def test_total_is_autograds_derivative_at_border_and_interior(model_cls: type[nn.Module], layer: str) -> None:
    model = _seeded(model_cls(), 1)
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    reference = _autograd_input_grad(model, x, 7, layer)
    c_in, h, w = reference.shape
    for where in POSITIONS:
        row, col = _position(where, h, w)
        channel = (row + col) % c_in
        e = explain_delta(model, x, 7, layer, channel, row, col)
        expected = float(reference[channel, row, col])
        assert e.total == pytest.approx(expected, rel=1e-10, abs=1e-15), (layer, where)
        assert e.autograd == pytest.approx(expected, rel=1e-12, abs=1e-18)
        assert e.total == math.fsum(t.delta * t.weight for t in e.terms)
        assert e.input_delta == pytest.approx(reference[channel].numpy(), rel=1e-9, abs=1e-15)
    assert model.training, "the model's mode is restored"
    assert layer in conv_layers(model)


def test_float32_difference_is_rounding_only() -> None:
    torch.manual_seed(3)
    model = SeedNet().eval()
    x = torch.rand(3, 32, 32)
    e = explain_delta(model, x, 2, "conv2", 5, 7, 8)
    assert abs(e.total - e.autograd) <= 1e-5 * max(abs(e.autograd), 1e-6)


def test_strided_dilated_grouped_conv() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
        nn.Flatten(),
        nn.Linear(6 * 5 * 5, 10),
    ).double()
    x = torch.rand(3, 9, 9, dtype=torch.float64)
    reference = _autograd_input_grad(model, x, 1, "2")
    for row, col in ((0, 0), (8, 8), (3, 4), (4, 7)):
        for channel in (0, 3):
            e = explain_delta(model, x, 1, "2", channel, row, col)
            assert e.total == pytest.approx(float(reference[channel, row, col]), rel=1e-10, abs=1e-15)
            assert e.input_delta == pytest.approx(reference[channel].numpy(), rel=1e-9, abs=1e-15)
            # channel 0 feeds the first group's outputs only
            assert {t.out_channel for t in e.terms} <= ({0, 1, 2} if channel < 2 else {3, 4, 5})
    assert e.below is not None and e.below.pool is None and (e.below.row, e.below.col) == (4, 7)


def test_step_below_goes_only_to_the_switch_times_f_prime() -> None:
    model = _seeded(SeedNet(), 5).eval()
    with torch.no_grad():
        model.conv1.bias[[7, 20]] = -5.0  # two channels rectified to zero everywhere: f' = 0 at their switches
    x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    z1 = model.conv1(x.unsqueeze(0)).detach().requires_grad_(True)
    logits = model.fc2(
        model.relu3(model.fc1(torch.flatten(model.pool2(model.relu2(model.conv2(model.pool1(model.relu1(z1))))), 1)))
    )
    (dz1,) = torch.autograd.grad(F.cross_entropy(logits, torch.tensor([4])), z1)
    dead = alive = 0
    for channel, row, col in ((0, 0, 0), (3, 15, 15), (7, 4, 9), (12, 8, 0), (20, 11, 3), (31, 2, 13)):
        e = explain_delta(model, x, 4, "conv2", channel, row, col)
        b = e.below
        assert b is not None and (b.relu, b.pool) == ("relu1", "pool1")
        window = z1[0, channel, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2].detach()
        # the switch is where relu(z) was largest in the 2x2 window (max_pool2d's first on ties)
        flat = int(torch.argmax(F.relu(window).flatten()))
        assert (b.row, b.col) == (2 * row + flat // 2, 2 * col + flat % 2)
        assert b.f_prime == float(z1[0, channel, b.row, b.col] > 0)
        assert b.delta == e.total * b.f_prime
        grads = dz1[0, channel, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2]
        assert b.delta == pytest.approx(float(dz1[0, channel, b.row, b.col]), rel=1e-10, abs=1e-18)
        assert b.autograd == pytest.approx(b.delta, rel=1e-10, abs=1e-18)
        others = [grads[i, j] for i in range(2) for j in range(2) if (2 * row + i, 2 * col + j) != (b.row, b.col)]
        assert all(float(g) == 0.0 for g in others), "nothing goes to the other positions of the window"
        dead += b.f_prime == 0.0
        alive += b.f_prime == 1.0
    assert dead and alive, "both sides of f' were seen"
    assert explain_delta(model, x, 4, "conv1", 0, 3, 3).below is None  # conv1 reads the image


def _hand_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """conv 3x3 (weights 1..9, padding 1) on a 4x4 map, then logits (v . z, 0), label 1."""
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False).double()
    linear = nn.Linear(16, 2, bias=False).double()
    v = torch.arange(16, dtype=torch.float64) / 10
    with torch.no_grad():
        conv.weight.copy_(torch.arange(1, 10, dtype=torch.float64).view(1, 1, 3, 3))
        linear.weight.copy_(torch.stack([v, torch.zeros(16, dtype=torch.float64)]))
    x = torch.arange(16, dtype=torch.float64).view(1, 4, 4) / 20
    return nn.Sequential(conv, nn.Flatten(), linear), x, v.view(4, 4)


def test_terms_meet_the_kernel_turned_180_degrees_by_hand() -> None:
    model, x, v = _hand_model()
    # C = -log softmax(v . z, 0)[1], so dC/dz = s v with s = softmax(...)[0].
    z = F.conv2d(x.unsqueeze(0), model[0].weight.detach(), padding=1)[0, 0]
    s = float(torch.softmax(torch.stack([(v * z).sum(), torch.tensor(0.0, dtype=torch.float64)]), 0)[0])
    # w = [[1 2 3] [4 5 6] [7 8 9]]; rot180(w) = [[9 8 7] [6 5 4] [3 2 1]].
    # Input (1, 2) fed outputs (0..2, 1..3); the output at offset (dr, dc) from it met rot180(w)[1 + dr, 1 + dc].
    by_hand = {
        (0, 1): 9, (0, 2): 8, (0, 3): 7,
        (1, 1): 6, (1, 2): 5, (1, 3): 4,
        (2, 1): 3, (2, 2): 2, (2, 3): 1,
    }  # fmt: skip
    e = explain_delta(model, x, 1, "0", 0, 1, 2)
    assert {(t.out_row, t.out_col): t.weight for t in e.terms} == by_hand
    assert len(e.terms) == 9
    for t in e.terms:
        assert t.delta == pytest.approx(s * float(v[t.out_row, t.out_col]), rel=1e-12)
    assert e.total == pytest.approx(sum(s * float(v[r, c]) * w for (r, c), w in by_hand.items()), rel=1e-12)
    assert e.total == pytest.approx(e.autograd, rel=1e-12)
    rotated = rot180(model[0].weight.detach())[0, 0]
    assert all(t.weight == rotated[1 + t.out_row - 1, 1 + t.out_col - 2] for t in e.terms)
    # At the corner (0, 0) only four outputs were fed: (0,0) w5, (0,1) w4, (1,0) w2, (1,1) w1.
    corner = explain_delta(model, x, 1, "0", 0, 0, 0)
    assert {(t.out_row, t.out_col): t.weight for t in corner.terms} == {(0, 0): 5, (0, 1): 4, (1, 0): 2, (1, 1): 1}
    assert corner.total == pytest.approx(s * (0.0 * 5 + 0.1 * 4 + 0.4 * 2 + 0.5 * 1), rel=1e-12)


def test_no_hook_outlives_a_call_even_a_failing_one() -> None:
    model = SeedNet().double()
    x = torch.rand(3, 32, 32, dtype=torch.float64)
    explain_delta(model, x, 0, "conv2", 0, 0, 0)
    with pytest.raises(ValueError, match="outside conv2's input"):
        explain_delta(model, x, 0, "conv2", 32, 0, 0)
    with pytest.raises(ValueError, match="no such module"):
        explain_delta(model, x, 0, "conv9", 0, 0, 0)
    with pytest.raises(ValueError, match="not a Conv2d"):
        explain_delta(model, x, 0, "fc1", 0, 0, 0)
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
