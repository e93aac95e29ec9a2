"""Class activation maps: where in a layer's maps the evidence for a class lies.

One forward pass of the traced model (`explorer.core.graph`) runs in two parts: up to the layer
without autograd, then from the layer's maps A (a fresh leaf) to the logits with it, so the way
back from the target logit stops at A: nothing below the layer and no weight gradient is
computed, and the model's parameters are left as they are (`torch.autograd.grad` with A as its
only input skips the weights). Score-CAM needs no gradient; it masks the input with each
channel's map and batches the masked copies.

Methods (A: the layer's maps [C, h, w]; g = dScore/dA, Score the target's logit):
    gradcam   relu(sum_c mean_ij(g_c) A_c)                 (Selvaraju et al.)
    gradcam++ relu(sum_c w_c A_c), w_c = sum_ij alpha * relu(g), alpha = g^2 / (2 g^2 + sum_ij(A_c) g^3),
              alpha = 0 where the denominator is 0         (Chattopadhay et al., eq. 19, as pytorch-grad-cam)
    layercam  relu(sum_c relu(g_c) A_c)                    (Jiang et al.)
    hirescam  relu(sum_c g_c A_c)                          (Draelos & Carin)
    scorecam  relu(sum_c s_c A_c), s_c the softmax probability of the target for the input masked by
              A_c upsampled (bilinear) to the input's size and then min-max scaled to [0, 1], in the
              paper's order (Wang et al., CVPR-W 2020, Algorithm 1; the weights are the target's
              probabilities as in the authors' code); a constant A_c masks the input to black
Each map is then min-max scaled to [0, 1] per image; a constant map is all zeros.

Score-CAM masks the [0, 1] image, before the normalisation that a wrapped model (`Normalized`,
`zfnet-cifar`) applies inside its forward: a masked-out pixel is black, where the authors' code and
pytorch-grad-cam mask the already normalised tensor (a masked-out pixel is the data set's mean
colour). The two agree when the model's normalisation is the identity (mean 0, std 1, e.g. SeedNet).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import fx, nn

from explorer.core.errors import ModelError, OptionError
from explorer.core.graph import ModelGraph, model_graph
from explorer.core.projection import model_device

METHODS = ("gradcam", "gradcam++", "layercam", "scorecam", "hirescam")

# Cap on the input elements of one batch of Score-CAM's masked copies.
_MASKED_ELEMENTS = 1 << 24


def cam(
    model: nn.Module,
    images: torch.Tensor,
    layer: str,
    target: int | Sequence[int] | torch.Tensor | None = None,
    *,
    method: str = "gradcam",
) -> torch.Tensor:
    """Class activation maps of `layer` for `target` (a class per image; default the predicted one).

    `images` are [B, 3, S, S] in [0, 1] as `explorer.core.preprocess` returns them. Returns
    [B, h, w] at the layer's map size, in [0, 1], on the images' device (`upsample_cam` for overlays).
    """
    if method not in METHODS:
        raise OptionError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    graph = model_graph(model)
    graph.layer(layer)
    param = next(iter(model.parameters()), None)
    x = images.to(device=model_device(model), dtype=param.dtype if param is not None else torch.float32)
    was_training = model.training
    model.eval()
    try:
        if method == "scorecam":
            with torch.no_grad():
                a, logits = layer_and_logits(graph, x, layer, grad=False)
                targets = resolve_targets(target, logits)
                raw = _score_combination(model, x, a, targets)
        else:
            a, g, targets = layer_gradient(graph, x, layer, target)
            raw = combine(method, a, g)
    finally:
        model.train(was_training)
    return scale_maps(raw).to(images.device)


def combine(method: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The rectified, unscaled map [B, h, w] of a gradient method from A and dScore/dA, both [B, C, h, w]."""
    if method == "gradcam":
        weighted = g.mean((2, 3), keepdim=True) * a
    elif method == "layercam":
        weighted = F.relu(g) * a
    elif method == "hirescam":
        weighted = g * a
    elif method == "gradcam++":
        g2 = g * g
        denominator = 2 * g2 + a.sum((2, 3), keepdim=True) * g2 * g
        alpha = torch.where(denominator != 0, g2 / torch.where(denominator != 0, denominator, 1), 0)
        weighted = (alpha * F.relu(g)).sum((2, 3), keepdim=True) * a
    else:
        raise OptionError(f"{method} is not a gradient method: choose one of gradcam, gradcam++, layercam, hirescam")
    return F.relu(weighted.sum(1))


def scale_maps(maps: torch.Tensor) -> torch.Tensor:
    """Each map [B, h, w] min-max scaled to [0, 1]; a constant map becomes zeros (never NaN)."""
    flat = maps.flatten(1)
    low = flat.amin(1).view(-1, 1, 1)
    span = flat.amax(1).view(-1, 1, 1) - low
    return torch.where(span > 0, (maps - low) / torch.where(span > 0, span, 1), 0)


def upsample_cam(maps: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Maps [B, h, w] resized bilinearly (corners not aligned) to `size`, e.g. the input's, for overlays."""
    out = (size, size) if isinstance(size, int) else tuple(size)
    return F.interpolate(maps.unsqueeze(1), size=out, mode="bilinear", align_corners=False).squeeze(1)


def resolve_targets(target: int | Sequence[int] | torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
    """One class index per image, int64 on the logits' device: the predicted class where `target` is None."""
    b, classes = logits.shape
    if target is None:
        return logits.argmax(1)
    if isinstance(target, int):
        t = torch.full((b,), int(target), dtype=torch.int64)
    else:
        t = torch.as_tensor(target).to(torch.int64).flatten().cpu()
        if t.numel() != b:
            raise OptionError(f"{t.numel()} targets for {b} images: give one class per image, or one for all")
    bad = [int(v) for v in t if not 0 <= int(v) < classes]
    if bad:
        raise OptionError(f"class {bad[0]} out of range 0..{classes - 1}")
    return t.to(logits.device)


def layer_and_logits(
    graph: ModelGraph, x: torch.Tensor, layer: str, *, grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's maps A [B, C, h, w] and the logits from one pass; with `grad`, A is a leaf the logits depend on."""
    node = graph.node_of(layer)
    out = _logits_node(graph)
    needed = _ancestors(out)
    with torch.no_grad():
        # Of the values below the layer, only those a node above it reads (a skip connection's) stay.
        after = needed - _ancestors(node)
        keep = frozenset(i for n in after for i in n.all_input_nodes)
        env = graph.run(x, [node], switches=False, targets_only=True, keep=keep)
    a = env[node].detach()
    if grad:
        a.requires_grad_(True)
    env[node] = a
    if node not in needed:
        # A channels-last activation: the layer is its channels-first twin, and the model reads the original.
        original, dims = _channels_last_source(graph, node)
        env[original] = a.permute(*_inverse(dims))
    with torch.set_grad_enabled(grad):
        for n in graph.gm.graph.nodes:
            if n in env or n not in after or n.op == "output":
                continue
            env[n] = _fetch(graph.gm, str(n.target)) if n.op == "get_attr" else graph.call(n, env)
    logits = env[out]
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ModelError("the model's output is not a [B, classes] tensor of logits")
    return a, logits


def layer_gradient(
    graph: ModelGraph, x: torch.Tensor, layer: str, target: int | Sequence[int] | torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, dScore/dA, targets): the layer's maps and the gradient of each image's target logit with respect to them."""
    with torch.enable_grad():  # a caller inside no_grad (a worker thread) still gets its gradient
        a, logits = layer_and_logits(graph, x, layer, grad=True)
        targets = resolve_targets(target, logits.detach())
        score = logits.gather(1, targets.view(-1, 1)).sum()
        (g,) = torch.autograd.grad(score, a, allow_unused=True)
    if g is None:
        g = torch.zeros_like(a)
    return a.detach(), g, targets


def _score_combination(model: nn.Module, x: torch.Tensor, a: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Score-CAM's unscaled map: each channel weighted by the target's probability on the input it masks.

    A channel's mask is its map upsampled to the input's size and then min-max scaled (the paper's
    order), made chunk by chunk so that at most `_MASKED_ELEMENTS` input elements are held at once.
    Constancy is judged on the map itself: a bilinear upsampling of a constant map is constant only up
    to rounding, which a min-max scaling would blow up into a mask of noise.
    """
    b, c = a.shape[:2]
    size = (x.shape[2], x.shape[3])
    flat = a.flatten(2)
    live = flat.amax(2) > flat.amin(2)  # [B, C]; a constant map masks everything out
    weights = torch.zeros(b, c, dtype=a.dtype, device=a.device)
    if not bool(live.all()):
        # Every constant channel masks the input to black: one forward serves them all.
        black = model(torch.zeros_like(x[:1])).softmax(1)[0]
        weights[~live] = black[targets].view(b, 1).expand(b, c)[~live].to(a.dtype)
    rows, cols = live.nonzero(as_tuple=True)
    step = max(1, _MASKED_ELEMENTS // x[0].numel())
    for i in range(0, rows.numel(), step):
        r, k = rows[i : i + step], cols[i : i + step]
        masks = scale_maps(upsample_cam(a[r, k], size))
        masked = x[r] * masks.unsqueeze(1).to(x.dtype)
        probs = model(masked).softmax(1)
        weights[r, k] = probs.gather(1, targets[r].view(-1, 1)).squeeze(1).to(a.dtype)
    return F.relu((weights.view(b, c, 1, 1) * a).sum(1))


def _logits_node(graph: ModelGraph) -> fx.Node:
    output = next(n for n in graph.gm.graph.nodes if n.op == "output")
    result = output.args[0]
    if not isinstance(result, fx.Node):
        raise ModelError("the model does not return one tensor of logits")
    return result


def _channels_last_source(graph: ModelGraph, twin: fx.Node) -> tuple[fx.Node, tuple[int, ...]]:
    """The activation node the model runs for a channels-first twin, and the permutation the twin's input took."""
    dense = twin.args[0]
    permuted = dense.args[0] if isinstance(dense, fx.Node) else None
    if isinstance(permuted, fx.Node) and permuted.target is torch.permute:
        source, dims = permuted.args[0], permuted.args[1]
        assert isinstance(source, fx.Node)
        for user in source.users:
            if user is not permuted and user.op == twin.op and user.target == twin.target:
                return user, tuple(dims)  # type: ignore[arg-type]
    raise ModelError(f"{graph.qualname[twin]}: the logits do not depend on this layer")


def _inverse(dims: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(dims)
    for i, d in enumerate(dims):
        out[d] = i
    return tuple(out)


def _ancestors(node: fx.Node) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.all_input_nodes)
    return seen


def _fetch(gm: fx.GraphModule, target: str) -> object:
    obj: object = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
