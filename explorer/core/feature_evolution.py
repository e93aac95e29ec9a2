"""Feature evolution over training (Zeiler & Fergus, Fig. 4).

For each weight snapshot saved during training, and each chosen feature, the image of a set with
the feature's strongest activation (over all map positions) and the deconvnet projection of that
one activation. The snapshot is loaded into a deep copy, so the caller's model never changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from explorer.core.graph import model_graph
from explorer.core.projection import Projector, layer_outputs

Progress = Callable[[int, int], None]
_CHUNK = 256  # images per forward pass while searching for the strongest activations


@dataclass(frozen=True, eq=False)
class EvolutionStep:
    """One snapshot: for feature k of the request, its strongest image, value and projection (on the CPU)."""

    epoch: int
    indices: torch.Tensor  # [F] int64 position in `images` (ties to the lowest)
    values: torch.Tensor  # [F] the strongest activation of the feature over all images and positions
    projections: torch.Tensor  # [F, 3, H, W] deconvnet with switches, of that activation alone


def snapshot_model(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> nn.Module:
    """A deep copy of `model` with `weights` loaded (cast to its dtype and device); unknown names are an error."""
    out = copy.deepcopy(model)
    own = out.state_dict()
    prefix = getattr(out, "node_prefix", "")  # a normalising wrapper holds the trained model inside
    state = {}
    for key, value in weights.items():
        name = key if key in own else prefix + key
        if name not in own:
            raise ValueError(f"snapshot tensor {key!r} is not a parameter of {type(model).__name__}")
        if tuple(value.shape) != tuple(own[name].shape):
            raise ValueError(
                f"snapshot tensor {key!r} has shape {tuple(value.shape)}, the model {tuple(own[name].shape)}"
            )
        state[name] = value.to(device=own[name].device, dtype=own[name].dtype)
    out.load_state_dict(state, strict=False)
    return out.eval()


@torch.no_grad()
def strongest(
    model: nn.Module, images: torch.Tensor, layer: str, features: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices [F], values [F]): the image of `images` with each feature's largest activation, ties to the lowest."""
    feats = list(features)
    per_image = []
    for start in range(0, images.shape[0], _CHUNK):
        a = layer_outputs(model, images[start : start + _CHUNK], [layer])[layer][:, feats]
        per_image.append(a.flatten(2).amax(2).cpu())  # [n, F]
    best = torch.cat(per_image)
    values, indices = best.max(0)  # max takes the first of equal values: the lowest index
    return indices, values


@torch.no_grad()
def evolution(
    model: nn.Module,
    snapshots: Mapping[int, Mapping[str, torch.Tensor]],
    images: torch.Tensor,
    layer: str,
    features: int | Sequence[int],
    *,
    progress: Progress | None = None,
) -> list[EvolutionStep]:
    """One EvolutionStep per snapshot (as `load_snapshots` returns them), in epoch order.

    `images` [N, 3, H, W] in [0, 1] is the set searched. `progress(done, total)` is called after
    each snapshot; an exception it raises (a cancel) stops the work.
    """
    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    channels = model_graph(model).layer(layer).channels
    bad = [f for f in feats if not 0 <= f < channels]
    if bad:
        raise ValueError(f"feature {bad[0]}: {layer} has features 0..{channels - 1}")
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be a non-empty [N, 3, H, W], got {tuple(images.shape)}")
    if not snapshots:
        raise ValueError("no snapshots to show")
    steps = []
    epochs = sorted(snapshots)
    for done, epoch in enumerate(epochs, 1):
        m = snapshot_model(model, snapshots[epoch])
        indices, values = strongest(m, images, layer, feats)
        projections = images.new_zeros(len(feats), *images.shape[1:]).cpu()
        for index in indices.unique().tolist():
            ks = [k for k in range(len(feats)) if int(indices[k]) == index]
            down = Projector(m, images[index : index + 1], layer).project([feats[k] for k in ks], keep="max")
            projections[ks] = down[0].cpu().to(projections.dtype)
        steps.append(EvolutionStep(int(epoch), indices, values, projections))
        if progress is not None:
            progress(done, len(epochs))
    return steps
