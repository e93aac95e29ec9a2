"""manual_gradients against autograd, and the rot180 step on a 1-channel example worked by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explorer.core.backprop import conv_delta, conv_weight_grad, manual_gradients, rot180
from explorer.core.model import SeedNet

PARAM_NAMES = [
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "fc1.weight",
    "fc1.bias",
    "fc2.weight",
    "fc2.bias",
]


def _model(seed: int, trained_like: bool = False) -> SeedNet:
    torch.manual_seed(seed)
    model = SeedNet().double().eval()
    if trained_like:
        # Wider weights and non-zero biases: some ReLUs dead, confident logits, as after training.
        with torch.no_grad():
            for name, p in model.named_parameters():
                fan_in = p[0].numel() if name.endswith("weight") else 1
                p.normal_(0.0, (2.0 / fan_in) ** 0.5 if name.endswith("weight") else 0.1)
    return model


def _batch(seed: int, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


def _autograd_gradients(model: SeedNet, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    was_training = model.training
    model.eval()
    params = dict(model.named_parameters())
    loss = F.cross_entropy(model(images), labels)
    grads = torch.autograd.grad(loss, list(params.values()))
    model.train(was_training)
    return dict(zip(params, grads, strict=True))


# float64 agrees with autograd to ~1e-15 (docs/backprop.md); 1e-10 leaves room for summation order and still
# catches a bug that touches a single pooling window.
TOLERANCE = 1e-10


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()


@pytest.mark.parametrize(("seed", "trained_like"), [(0, False), (1, False), (2, True)])
def test_manual_gradients_match_autograd(seed: int, trained_like: bool) -> None:
    model = _model(seed, trained_like)
    images, labels = _batch(seed)
    manual = manual_gradients(model, images, labels)
    reference = _autograd_gradients(model, images, labels)
    assert list(manual) == PARAM_NAMES
    for name in PARAM_NAMES:
        assert manual[name].shape == reference[name].shape, name
        assert reference[name].norm() > 0, name  # a zero gradient would make the check vacuous
        assert _rel_err(manual[name], reference[name]) < TOLERANCE, name


@pytest.mark.parametrize(("cin", "cout", "k", "padding", "size"), [(1, 1, 2, 0, 3), (3, 2, 3, 1, 6), (2, 4, 5, 2, 7)])
def test_conv_steps_match_autograd(cin: int, cout: int, k: int, padding: int, size: int) -> None:
    torch.manual_seed(k)
    inp = torch.randn(2, cin, size, size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(cout, cin, k, k, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(inp, weight, padding=padding)
    delta = torch.randn_like(out)
    d_inp, d_weight = torch.autograd.grad(out, (inp, weight), delta)
    with torch.no_grad():
        assert torch.allclose(conv_delta(delta, weight, padding), d_inp)
        assert torch.allclose(conv_weight_grad(inp, delta, k, padding), d_weight)


# A 3x3 input, a 2x2 kernel, no padding: the forward z[x, y] = sum_ab w[a, b] inp[x + a, y + b] is 2x2.
HAND_INPUT = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).view(1, 1, 3, 3)
HAND_WEIGHT = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
HAND_DELTA = torch.tensor([[1.0, -1.0], [2.0, 0.0]]).view(1, 1, 2, 2)


def test_conv_delta_worked_by_hand() -> None:
    # Output (x', y') used inputs (x'+a, y'+b) with weight w[a, b], so it sends delta[x', y'] * w
    # back onto the 2x2 block of the input that it read:
    #    1 * w at (0,0):  [ 1  2  0]   -1 * w at (0,1): [0 -1 -2]   2 * w at (1,0): [0 0 0]
    #                     [ 3  4  0]                    [0 -3 -4]                   [2 4 0]
    #                     [ 0  0  0]                    [0  0  0]                   [6 8 0]
    # (delta[1,1] = 0 adds nothing.) Summed:
    expected = torch.tensor([[1.0, 1.0, -2.0], [5.0, 5.0, -4.0], [6.0, 8.0, 0.0]]).view(1, 1, 3, 3)
    assert torch.equal(conv_delta(HAND_DELTA, HAND_WEIGHT, padding=0), expected)

    # The same 'full' correlation without the rotation sends rot180(w) = [[4, 3], [2, 1]] back
    # instead of w: 1 * [[4, 3], [2, 1]] at (0,0) - 1 * (same) at (0,1) + 2 * (same) at (1,0).
    unrotated = F.conv2d(F.pad(HAND_DELTA, (1, 1, 1, 1)), HAND_WEIGHT.transpose(0, 1))
    wrong = torch.tensor([[4.0, -1.0, -3.0], [10.0, 5.0, -1.0], [4.0, 2.0, 0.0]]).view(1, 1, 3, 3)
    assert torch.equal(unrotated, wrong)
    assert not torch.allclose(unrotated, expected)


def test_conv_weight_grad_worked_by_hand() -> None:
    # dC/dw[a, b] = sum_xy delta[x, y] * inp[x + a, y + b], delta = [[1, -1], [2, 0]]:
    #   w[0,0]: 1*1 - 1*2 + 2*4 = 7     w[0,1]: 1*2 - 1*3 + 2*5 = 9
    #   w[1,0]: 1*4 - 1*5 + 2*7 = 13    w[1,1]: 1*5 - 1*6 + 2*8 = 15
    expected = torch.tensor([[7.0, 9.0], [13.0, 15.0]]).view(1, 1, 2, 2)
    assert torch.equal(conv_weight_grad(HAND_INPUT, HAND_DELTA, kernel_size=2, padding=0), expected)
    # The seed's rot180 of the input belongs to a true convolution; conv2d already correlates,
    # so rotating once more is wrong: on [[9, 8, 7], [6, 5, 4], [3, 2, 1]], w[0,0] = 9 - 8 + 2*6 = 13.
    wrong = torch.tensor([[13.0, 11.0], [7.0, 5.0]]).view(1, 1, 2, 2)
    assert torch.equal(conv_weight_grad(rot180(HAND_INPUT), HAND_DELTA, 2, 0), wrong)


def test_conv_weight_grad_rejects_a_mismatched_kernel_size() -> None:
    with pytest.raises(ValueError, match="3x3 kernel"):
        conv_weight_grad(HAND_INPUT, HAND_DELTA, kernel_size=3, padding=0)


def test_no_autograd_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("manual_gradients used autograd")

    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    model = _model(3)
    images, labels = _batch(3, n=2)
    with torch.set_grad_enabled(False):
        grads = manual_gradients(model, images, labels)
    assert all(p.grad is None for p in model.parameters())
    assert not any(g.requires_grad for g in grads.values())
    # And with grad mode on, the results still carry no graph back to the parameters.
    grads = manual_gradients(model, images, labels)
    assert all(g.grad_fn is None and not g.requires_grad for g in grads.values())
    assert all(p.grad is None for p in model.parameters())


def test_dropout_is_ignored_and_training_flag_kept() -> None:
    model = _model(4)
    images, labels = _batch(4)
    model.train()
    torch.manual_seed(123)
    manual = manual_gradients(model, images, labels)
    assert model.training and model.dropout.training
    reference = _autograd_gradients(model, images, labels)  # computed in eval mode
    for name in PARAM_NAMES:
        assert _rel_err(manual[name], reference[name]) < TOLERANCE, name
    # Calling it again gives the same answer: no random dropout mask crept in.
    again = manual_gradients(model, images, labels)
    assert all(torch.equal(manual[name], again[name]) for name in PARAM_NAMES)
