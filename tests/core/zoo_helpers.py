"""torchvision's classification builders as the explorer opens them, and an independent reference for
their projections: autograd through torchvision's own feature extractor, with the rectifiers' way back
swapped (ReLU, ReLU6, LeakyReLU, PReLU, in every form: module, function, method) and every other
operation left to autograd, as Captum does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.models as M
from torch import nn
from torch.overrides import TorchFunctionMode
from torchvision.models import get_model_weights
from torchvision.models.feature_extraction import create_feature_extractor

from explorer.core.loading import Normalized

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# GoogLeNet and Inception v3 as their ImageNet weights build them (transform_input: the input is
# re-normalised inside the model, through x[:, 0], unsqueeze and cat).
BUILD_KWARGS = {
    "googlenet": {"transform_input": True, "aux_logits": False, "init_weights": False},
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
}


def input_size(name: str) -> int:
    """The crop size of the builder's default weights."""
    return int(get_model_weights(name).DEFAULT.transforms().crop_size[0])


def build(name: str, dtype: torch.dtype = torch.float32, size: int | None = None) -> nn.Module:
    """Random weights, wrapped and normalised as `load_model("torchvision:NAME")` does, in eval mode."""
    torch.manual_seed(0)
    model = Normalized(M.get_model(name, weights=None, **BUILD_KWARGS.get(name, {})), IMAGENET_MEAN, IMAGENET_STD)
    model.input_size = size or input_size(name)
    return model.to(dtype).eval()


class _Swapped(torch.autograd.Function):
    """f(z) forward; backward: relu(g) (deconvnet), relu(g) * f'(z) (guided) or g * f'(z) (gradient)."""

    @staticmethod
    def forward(ctx, z, fn, method):
        ctx.save_for_backward(z)
        ctx.fn, ctx.method = fn, method
        return fn(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        if ctx.method == "deconvnet":
            return g.clamp(min=0), None, None
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            (local,) = torch.autograd.grad(ctx.fn(zz), zz, g.clamp(min=0) if ctx.method == "guided" else g)
        return local, None, None


def _rectifier(func, args, kwargs):
    """The rectifier `func(*args, **kwargs)` computes, as a function of its input alone (None if it is none)."""
    x, rest = args[0], args[1:]
    if func in (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_):
        return lambda z: torch.relu(z)
    if func is F.relu6:
        return lambda z: F.hardtanh(z, 0.0, 6.0)
    if func is F.hardtanh:
        low = rest[0] if rest else kwargs.get("min_val", -1.0)
        high = rest[1] if len(rest) > 1 else kwargs.get("max_val", 1.0)
        return (lambda z: F.hardtanh(z, low, high)) if low == 0 else None
    if func is F.leaky_relu:
        slope = rest[0] if rest else kwargs.get("negative_slope", 0.01)
        return lambda z: F.leaky_relu(z, slope)
    if func in (F.prelu, torch.prelu):
        weight = rest[0] if rest else kwargs["weight"]
        return lambda z: F.prelu(z, weight)
    del x
    return None


class SwappedRectifiers(TorchFunctionMode):
    """Within it, every rectifier call gets the swapped way back for `method`."""

    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        fn = _rectifier(func, args, kwargs) if args and isinstance(args[0], torch.Tensor) else None
        if fn is None:
            return func(*args, **kwargs)
        return _Swapped.apply(args[0], fn, self.method)


def reference(model, x, node, channels, features, method, prefix="inner."):
    """[B, F, 3, H, W]: d/dx of the layer's maps (channels first) sent down with the swapped rectifiers."""
    extractor = create_feature_extractor(model.eval(), return_nodes={prefix + node: "out"})
    xi = x.clone().requires_grad_(True)
    with SwappedRectifiers(method):
        out = extractor(xi)["out"]
    if out.shape[1] != channels and out.shape[-1] == channels:  # channels-last
        out = out.permute(0, 3, 1, 2)
    outs = []
    for f in features:
        a = out[:, f]
        (g,) = torch.autograd.grad(a, xi, a.detach(), retain_graph=True)
        outs.append(g)
    return torch.stack(outs, 1)
