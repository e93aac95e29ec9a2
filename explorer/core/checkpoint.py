"""Safe checkpoints: state dicts saved atomically and loaded with `weights_only=True`, never unsafely.

Opening a model from a checkpoint is `explorer.core.loading.load_model`, which builds on this module
(`load_model()` is the bundled SeedNet, `load_model(PATH)` SeedNet with the weights in PATH).
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from explorer.core.atomic import atomic_write
from explorer.core.errors import CheckpointError
from explorer.core.model import SeedNet
from explorer.core.paths import file_kind

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"  # the package `explorer.weights`
BUNDLED_MODEL = WEIGHTS / "seednet.pt"
BUNDLED_SNAPSHOTS = WEIGHTS / "seednet.snapshots.pt"


def atomic_save(obj: object, path: str | os.PathLike[str]) -> None:
    """torch.save to a temporary file beside `path`, then rename: `path` is never half-written."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def save_model(model: torch.nn.Module, path: str | os.PathLike[str]) -> None:
    """Save the model's state dict (on the CPU) atomically."""
    atomic_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a state dict with `weights_only=True`; raise CheckpointError naming the file and problem."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        if os.path.exists(name):
            raise CheckpointError(f"{name}: is {file_kind(os.stat(name).st_mode)}, not a checkpoint file")
        raise CheckpointError(f"{name}: no such checkpoint file")
    if os.path.getsize(name) == 0:
        raise CheckpointError(f"{name}: the file is empty (0 bytes)")
    if name.endswith(".safetensors"):
        return _read_safetensors(name)
    if _is_torchscript(name):
        # Checked here because torch.load warns that it dispatches to torch.jit.load, then refuses.
        raise CheckpointError(f"{name}: a TorchScript archive, not a state dict; save model.state_dict() instead")
    try:
        with warnings.catch_warnings():
            # torch warns while it checks sparse tensors and old storages; the tensors are judged below.
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if any(marker in text for marker in _NOT_A_PICKLE):
            raise CheckpointError(f"{name}: not a PyTorch checkpoint (unreadable data)") from None
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise CheckpointError(
                f"{name}: refused, the file holds Python objects that safe loading does not allow "
                "(a pickled module or code); save model.state_dict() instead"
            ) from None
        raise CheckpointError(f"{name}: not a PyTorch checkpoint ({_first_line(text)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        text = _first_line(str(exc))
        if "TorchScript" in text:
            raise CheckpointError(
                f"{name}: a TorchScript archive, not a state dict; save model.state_dict() instead"
            ) from None
        if isinstance(exc, EOFError) or "failed finding central directory" in text or "truncated" in text.lower():
            raise CheckpointError(f"{name}: the file is truncated or corrupt ({text})") from None
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint ({text})") from None
    except Exception as exc:  # arbitrary bytes make the unpickler fail in many ways (IndexError, ...)
        detail = f"{type(exc).__name__}: {_first_line(str(exc))}"
        raise CheckpointError(f"{name}: not a readable PyTorch checkpoint ({detail})") from None
    return _as_state_dict(obj, name)


# What the weights-only unpickler says about bytes that are not a pickle at all (random data).
_NOT_A_PICKLE = ("Unsupported operand", "String is too long", "unsupported persistent id")


def _is_torchscript(name: str) -> bool:
    try:
        with zipfile.ZipFile(name) as archive:
            return any(entry.endswith("constants.pkl") for entry in archive.namelist())
    except Exception:  # not a readable zip: torch.load will say what is wrong
        return False


def _read_safetensors(name: str) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointError(
            f"{name}: safetensors files need the 'safetensors' package (pip install safetensors)"
        ) from None
    try:
        return dict(load_file(name, device="cpu"))
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{name}: not a readable safetensors file ({_first_line(str(exc))})") from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class StateDict(dict):
    """A state dict read from a file; `wrapped_in` names the key it sat under (`state_dict`, `model`, ...), if any."""

    wrapped_in: str | None = None


def _as_state_dict(obj: object, name: str) -> StateDict:
    wrapped_in = None
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj, wrapped_in = inner, key
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a state dict of tensors")
    out = StateDict()
    out.wrapped_in = wrapped_in
    for k, v in obj.items():
        key = str(k)
        # DataParallel and DistributedDataParallel save their parameters under "module.".
        if key.startswith("module."):
            key = key[len("module.") :]
        problem = tensor_problem(v)
        if problem:
            raise CheckpointError(f"{name}: tensor {key} {problem}; save a plain dense state dict (model.state_dict())")
        out[key] = v
    return out


def tensor_problem(t: torch.Tensor) -> str | None:
    """Why `t` cannot be loaded as a weight (sparse, on the meta device, quantized, nested, complex, ...), or None."""
    if t.is_meta or t.device.type == "meta":
        return "is on the meta device (it has a shape but no values)"
    if t.layout != torch.strided:
        return f"is {str(t.layout).removeprefix('torch.').replace('_', ' ')} (layout {t.layout}), not dense"
    if t.is_quantized:
        return f"is quantized ({t.dtype}), not a float tensor"
    if getattr(t, "is_nested", False):
        return "is a nested tensor"
    if t.is_complex() or not (t.is_floating_point() or t.dtype in _INTEGER_DTYPES):
        return f"has dtype {t.dtype}, not a float (or integer buffer) dtype"
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
        return "holds values that are not finite numbers (nan or inf)"
    return None


_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool)


def check_architecture(state: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise CheckpointError unless `state` has exactly SeedNet's keys and shapes."""
    check_state(SeedNet(), state, name, "seednet")


def load_snapshots(
    path: str | os.PathLike[str] | None = None, model: str = "seednet"
) -> dict[int, dict[str, torch.Tensor]]:
    """The conv-layer weights saved during training, by epoch (the bundled `model`'s when `path` is None)."""
    from explorer.core.zoo import BUNDLED_ARCHITECTURES

    if path is None and model not in BUNDLED_ARCHITECTURES:
        raise CheckpointError(
            f"{model}: this model has no training snapshots (the bundled {' and '.join(BUNDLED_ARCHITECTURES)} have "
            "them; `cnn-explorer train --snapshots-out` writes them for a model you train)"
        )
    source = WEIGHTS / f"{model}.snapshots.pt" if path is None else Path(path)
    flat = read_state_dict(source)
    out: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        epoch, _, param = key.partition("/")
        if not epoch.startswith("epoch") or not epoch[len("epoch") :].isdigit() or not param:
            raise CheckpointError(f"{source}: not a snapshot file (key {key!r})")
        out.setdefault(int(epoch[len("epoch") :]), {})[param] = value
    return dict(sorted(out.items()))


def _some(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def _fit_keys(state: dict, expected: Mapping[str, torch.Tensor]) -> None:
    """Two harmless differences mended in place: a prefix on every key (a training wrapper's attribute, as
    Lightning saves `model.conv1.weight`) that leaves exactly the model's keys, and BatchNorm counters
    (`num_batches_tracked`, which files from before PyTorch 0.4.1 lack and evaluation never reads)."""
    keys = set(state)
    if keys and not keys & set(expected):
        heads = {k.split(".", 1)[0] for k in keys}
        if len(heads) == 1 and all("." in k for k in keys):
            cut = len(heads.pop()) + 1
            if {k[cut:] for k in keys} <= set(expected):
                for k in list(state):
                    state[k[cut:]] = state.pop(k)
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = v.clone()


def check_state(model: nn.Module, state: Mapping[str, torch.Tensor], name: str, what: str) -> None:
    """Raise CheckpointError unless `state` has exactly the model's keys and shapes (missing and unexpected keys named).

    A dict `state` is first mended in place where the difference is harmless (see `_fit_keys`)."""
    expected = model.state_dict()
    if isinstance(state, dict):
        _fit_keys(state, expected)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing keys: " + _some(missing))
        if unexpected:
            parts.append("unexpected keys: " + _some(unexpected))
        raise CheckpointError(f"{name}: not a {_label(what)} state dict ({'; '.join(parts)})")
    wrong = [
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(f"{name}: not a {_label(what)} state dict (wrong shapes: {', '.join(wrong[:10])})")


def _label(what: str) -> str:
    return {"seednet": "SeedNet", "zfnet-cifar": "zfnet-cifar"}.get(what, what)
