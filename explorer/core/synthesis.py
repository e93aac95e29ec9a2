"""What a feature wants to see: regularized activation maximization (Yosinski et al. 2015; Olah et al. 2017).

Every requested feature gets its own image, and all of them ascend together as one batch. The
objective is the layer's pre-activation (the ReLU's input), so a start where the ReLU is closed
still has a gradient. Each feature's start noise and jitter come from its own generator, seeded by
(seed, feature), and every step is per image (the model runs in eval mode, Adam is elementwise), so
a feature's image does not depend on which other features share the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.errors import ExplorerError
from explorer.core.graph import Layer, ModelGraph, model_graph
from explorer.core.model_meta import model_info
from explorer.core.projection import _feature_list, model_device

OBJECTIVES = ("unit", "channel")
PARAMS = ("pixel", "fourier")
MAX_STEPS = 10_000  # the window offers up to 5,000; time grows with steps, memory does not
_SHIFT_CHUNK = 256  # steps of jitter drawn at a time, so memory does not grow with steps

# Lucid's square root of the colour correlation of ImageNet, normalized to a largest column norm of 1.
_COLOR_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR = _COLOR_SVD_SQRT / _COLOR_SVD_SQRT.norm(dim=0).max()


class MaximizeCancelled(ExplorerError):
    """`should_stop` said stop before the last step."""


@dataclass(frozen=True)
class MaximizeSettings:
    """The optimization's knobs; the defaults make readable pictures at 32x32 in about 100 steps."""

    objective: str = "unit"
    steps: int = 96
    seed: int = 0
    lr: float = 0.05
    param: str = "pixel"
    l2: float = 1e-3  # multiplicative decay of the image (around grey) every step
    blur_every: int = 4  # blur the image every this many steps (0: never)
    blur_sigma: float = 0.5  # pixels
    jitter: int = 2  # random shift of up to this many pixels each step (0: none)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.param not in PARAMS:
            raise ValueError(f"param must be one of {', '.join(PARAMS)}, got {self.param!r}")
        if self.steps < 0 or self.blur_every < 0 or self.jitter < 0:
            raise ValueError("steps, blur_every and jitter must not be negative")
        if self.steps > MAX_STEPS:
            raise ValueError(f"steps must be at most {MAX_STEPS:,}, got {self.steps:,}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.l2 < 1 or not 0 <= self.blur_sigma < 100:
            raise ValueError("l2 must lie in [0, 1) and blur_sigma in [0, 100)")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def feature_generator(seed: int, feature: int) -> torch.Generator:
    """The generator of one feature's start and jitter: the same for (seed, feature) in any batch."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(feature)) % (2**63))


class _Image:
    """The images being optimized, as pixels or as a decorrelated, 1/f-scaled Fourier spectrum."""

    def __init__(self, starts: torch.Tensor, param: str) -> None:
        _, _, h, w = starts.shape
        self.param, self.size = param, (h, w)
        self.color = _COLOR.to(starts.device, starts.dtype)
        if param == "pixel":
            self.raw = (starts * 0.1).requires_grad_(True)  # the image minus grey
            return
        fy = torch.fft.fftfreq(h, device=starts.device, dtype=starts.dtype)[:, None]
        fx = torch.fft.rfftfreq(w, device=starts.device, dtype=starts.dtype)[None, :]
        self.freqs = torch.sqrt(fy * fy + fx * fx)
        self.scale = 1.0 / self.freqs.clamp(min=1.0 / max(h, w))
        spectrum = torch.fft.rfft2(starts * 0.01, norm="ortho")
        self.raw = torch.view_as_real(spectrum).contiguous().requires_grad_(True)

    def pixels(self) -> torch.Tensor:
        if self.param == "pixel":
            return self.raw + 0.5
        spectrum = torch.view_as_complex(self.raw) * self.scale
        t = torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / 4.0
        t = torch.einsum("bchw,dc->bdhw", t, self.color)
        return torch.sigmoid(t)

    @torch.no_grad()
    def regularize(self, l2: float, blur_sigma: float | None) -> None:
        """Decay towards grey and (when `blur_sigma`) a Gaussian blur, applied to the parameters."""
        if l2 > 0:
            self.raw.mul_(1.0 - l2)
        if blur_sigma:
            if self.param == "pixel":
                self.raw.copy_(_gaussian_blur(self.raw, blur_sigma))
            else:  # a Gaussian blur is a product with its transfer function in the Fourier domain
                gain = torch.exp(-2.0 * (math.pi * blur_sigma * self.freqs) ** 2)
                self.raw.mul_(gain[..., None])
        if self.param == "pixel":
            self.raw.clamp_(-0.5, 0.5)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _shifted_crop(x: torch.Tensor, rows: slice, cols: slice, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """x[:, :, rows, cols] of each image of x [F, C, H, W] rolled by its own (dy, dx), wrapping around."""
    f, _, h, w = x.shape
    r = (torch.arange(h, device=x.device)[rows][None, :] - dy[:, None]) % h  # [F, h']
    c = (torch.arange(w, device=x.device)[cols][None, :] - dx[:, None]) % w  # [F, w']
    idx = torch.arange(f, device=x.device)[:, None, None]
    return x[idx, :, r[:, :, None], c[:, None, :]].permute(0, 3, 1, 2)


def _own_maps(graph: ModelGraph, target: fx.Node, feats: list[int], device: torch.device):
    """x [F, 3, h, w] -> each image's own feature's pre-activation map [F, h', w'].

    When the pre-activation is a conv (or a conv then an eval-mode BatchNorm), the last step runs
    only each image's own filter, as a grouped conv; otherwise the whole layer runs and one map is kept.
    """
    gm, rows, chan = graph.gm, torch.arange(len(feats), device=device), torch.tensor(feats, device=device)

    def whole(x: torch.Tensor) -> torch.Tensor:
        return graph.run(x, [target], switches=False)[target][rows, chan]

    node, bn = target, None
    if node.op == "call_module" and isinstance(gm.get_submodule(str(node.target)), nn.BatchNorm2d):
        bn = gm.get_submodule(str(node.target))
        node = node.all_input_nodes[0]
    conv = gm.get_submodule(str(node.target)) if node.op == "call_module" else None
    if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or conv.padding_mode != "zeros" or len(node.args) != 1:
        return whole
    if bn is not None and (bn.training or bn.running_mean is None or bn.running_var is None):
        return whole
    source = node.all_input_nodes[0]
    weight = conv.weight[chan]  # [F, Cin, kh, kw]
    bias = conv.bias[chan] if conv.bias is not None else torch.zeros(len(feats), device=device, dtype=weight.dtype)
    if isinstance(bn, nn.BatchNorm2d):
        mean, var = bn.running_mean, bn.running_var
        assert isinstance(mean, torch.Tensor) and isinstance(var, torch.Tensor)
        scale = torch.rsqrt(var[chan] + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight[chan]
        shift = -mean[chan] * scale + (bn.bias[chan] if bn.bias is not None else 0)
        weight, bias = weight * scale[:, None, None, None], bias * scale + shift
    weight, bias = weight.detach(), bias.detach()

    def own(x: torch.Tensor) -> torch.Tensor:
        inp = graph.run(x, [source], switches=False)[source]  # [F, Cin, H, W]
        f, cin, h, w = inp.shape
        out = F.conv2d(inp.reshape(1, f * cin, h, w), weight, bias, conv.stride, conv.padding, conv.dilation, f)
        return out.view(f, *out.shape[2:])

    return own


def unit_window(layer: Layer, size: int) -> tuple[slice, slice, int, int]:
    """The input rows and columns that the centre unit of `layer` reads, and its (row, col) in the cropped map.

    The crop starts on a multiple of the layer's jump, so every layer below sees the same positions
    as on the whole image; the crop's own zero padding falls only outside the unit's receptive field.
    """

    def span(i: int) -> tuple[slice, int]:
        start = max(0, i * layer.jump + layer.lo)
        start -= start % layer.jump
        end = min(size, i * layer.jump + layer.hi + 1)
        return slice(start, end), i - start // layer.jump

    rows, r = span(layer.size[0] // 2)
    cols, c = span(layer.size[1] // 2)
    return rows, cols, r, c


def maximize(
    model: nn.Module,
    layer: str,
    features: int | Sequence[int] | None = None,
    *,
    objective: str = MaximizeSettings.objective,
    steps: int = MaximizeSettings.steps,
    seed: int = MaximizeSettings.seed,
    lr: float = MaximizeSettings.lr,
    param: str = MaximizeSettings.param,
    l2: float = MaximizeSettings.l2,
    blur_every: int = MaximizeSettings.blur_every,
    blur_sigma: float = MaximizeSettings.blur_sigma,
    jitter: int = MaximizeSettings.jitter,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Images [F, 3, H, W] in [0, 1] at the model's input size that drive each feature of `layer` hardest.

    `objective="unit"`: the pre-activation at the centre of the feature's map; `"channel"`: its map's
    mean. `progress(step, steps)` and `should_stop()` are called every step (stopping raises
    MaximizeCancelled); `on_step(step, images)` gets the current images (detached, on the CPU).
    """
    s = MaximizeSettings(objective, steps, seed, lr, param, l2, blur_every, blur_sigma, jitter)
    graph = model_graph(model)
    info = graph.layer(layer)
    feats = _feature_list(features, info.channels)
    size = model_info(model).input_size
    device = model_device(model)
    dtype = next(iter(model.parameters()), torch.empty(0)).dtype
    if not feats:
        return torch.zeros(0, 3, size, size, dtype=dtype)
    node = graph.by_name[info.node]
    target = node.all_input_nodes[0] if node.all_input_nodes else node

    gens = [feature_generator(s.seed, f) for f in feats]
    starts = torch.stack([torch.randn(3, size, size, generator=g, dtype=dtype) for g in gens]).to(device)
    shifts = _jitter_chunks(gens, s.jitter, s.steps, device)
    image = _Image(starts, s.param)
    opt = torch.optim.Adam([image.raw], lr=s.lr)
    feature_maps = _own_maps(graph, target, feats, device)
    # For a unit, only its receptive field is computed (the rest has no gradient anyway).
    full = slice(0, size)
    window = unit_window(info, size) if s.objective == "unit" else (full, full, 0, 0)

    was_training = model.training
    model.eval()
    try:
        for step in range(s.steps):
            if should_stop is not None and should_stop():
                raise MaximizeCancelled(f"stopped after {step} of {s.steps} steps")
            with torch.enable_grad():
                x = image.pixels()
                if step % _SHIFT_CHUNK == 0:
                    shift = next(shifts)  # [F, the next chunk of steps, 2]
                dy, dx = shift[:, step % _SHIFT_CHUNK].unbind(1)
                x = _shifted_crop(x, window[0], window[1], dy, dx)
                maps = feature_maps(x)  # [F, h, w]
                value = maps[:, window[2], window[3]] if s.objective == "unit" else maps.mean(dim=(1, 2))
                # Only the image's gradient: the model's parameters get none computed.
                (grad,) = torch.autograd.grad(-value.sum(), [image.raw])
                image.raw.grad = grad
            opt.step()
            blur = s.blur_sigma if s.blur_every and (step + 1) % s.blur_every == 0 else None
            image.regularize(s.l2, blur)
            if progress is not None:
                progress(step + 1, s.steps)
            if on_step is not None:
                with torch.no_grad():
                    on_step(step + 1, image.pixels().detach().cpu())
    finally:
        model.train(was_training)
    with torch.no_grad():
        return image.pixels().detach().clamp(0, 1)


def _jitter_chunks(
    gens: Sequence[torch.Generator], jitter: int, steps: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """Each feature's shifts [F, n, 2] for the next n steps, _SHIFT_CHUNK steps at a time: the same numbers
    as drawing all steps at once (each generator draws in order), in memory that does not grow with steps."""
    for start in range(0, steps, _SHIFT_CHUNK):
        n = min(_SHIFT_CHUNK, steps - start)
        yield torch.stack([torch.randint(-jitter, jitter + 1, (n, 2), generator=g) for g in gens]).to(device)


def feature_response(
    model: nn.Module, images: torch.Tensor, layer: str, features: Sequence[int], objective: str = "unit"
) -> torch.Tensor:
    """The post-ReLU value `maximize` drove: image i's feature features[i] at the map's centre or its mean."""
    from explorer.core.projection import activations

    with torch.no_grad():
        maps = activations(model, images.to(model_device(model)), layer)
    maps = maps[torch.arange(len(features)), torch.tensor(list(features), dtype=torch.long)]
    if objective == "unit":
        return maps[:, maps.shape[1] // 2, maps.shape[2] // 2]
    return maps.mean(dim=(1, 2))
