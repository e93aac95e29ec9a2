import os
import pickle
import shlex
import sys
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.serialization
from torch import nn

from explorer.core import checkpoint
from explorer.core.checkpoint import (
    BUNDLED_MODEL,
    BUNDLED_SNAPSHOTS,
    atomic_save,
    check_architecture,
    load_snapshots,
    read_state_dict,
    save_model,
)
from explorer.core.errors import CheckpointError
from explorer.core.loading import load_model
from explorer.core.model import SeedNet


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SeedNet().eval()


@pytest.fixture
def saved(tmp_path, model):
    path = tmp_path / "seednet.pt"
    save_model(model, path)
    return path


def _assert_same(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0)


def _refused(path, *match) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert str(path) in message
    for text in match:
        assert text in message, message
    return message


def path_with(path, state):
    torch.save(state, path)
    return path


# --- good checkpoints ----------------------------------------------------------------------------


def test_round_trip(saved, model):
    loaded = load_model(saved)
    assert isinstance(loaded, SeedNet) and not loaded.training
    _assert_same(loaded, model)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_save_model_moves_to_cpu_and_detaches(tmp_path, model):
    path = tmp_path / "m.pt"
    save_model(model, path)
    state = read_state_dict(path)
    assert all(v.device.type == "cpu" and not v.requires_grad for v in state.values())
    assert set(state) == set(model.state_dict())


def test_module_prefix_is_stripped(tmp_path, model):
    path = tmp_path / "ddp.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    _assert_same(load_model(path), model)


@pytest.mark.parametrize("key", ["state_dict", "model_state_dict", "model"])
def test_nested_state_dict(tmp_path, model, key):
    path = tmp_path / "nested.pt"
    torch.save({key: model.state_dict(), "epoch": 7, "optimizer": {"lr": 0.01}}, path)
    _assert_same(load_model(path), model)


def test_ordered_dict_and_half_precision(tmp_path, model):
    path = tmp_path / "half.pt"
    torch.save(OrderedDict((k, v.half()) for k, v in model.state_dict().items()), path)
    loaded = load_model(path)
    assert loaded.conv1.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.conv1.weight, model.conv1.weight, atol=1e-3, rtol=1e-3)


def test_tensors_saved_for_cuda_are_mapped_to_cpu(tmp_path, monkeypatch, model):
    # Make torch.save record every storage as living on cuda:0, as a checkpoint from a GPU does.
    path = tmp_path / "gpu.pt"
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        torch.save(model.state_dict(), path)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # the file really claims CUDA
    state = read_state_dict(path)
    assert all(v.device.type == "cpu" for v in state.values())
    _assert_same(load_model(path), model)


# --- bad checkpoints: every message names the file -----------------------------------------------


def test_missing_file(tmp_path):
    _refused(tmp_path / "nope.pt", "no such")


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    _refused(path, "empty")


def test_truncated(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    _refused(saved, "truncated")


@pytest.mark.parametrize("seed", range(24))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(seed).bytes([16, 100, 4096][seed % 3]))
    message = _refused(path)
    assert "refused" not in message, "random bytes are not code"


def test_pickled_module_is_refused(tmp_path, model):
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    _refused(path, "refused", "state_dict()")


class _Exploit:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("how", ["torch.save", "pickle2", "pickle4", "nested"])
def test_malicious_pickle_never_runs(tmp_path, how):
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save({"conv1.weight": exploit}, path)
    elif how == "nested":
        torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "extra": exploit}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(exploit, f, protocol=int(how[-1]))
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    _refused(path)
    assert not marker.exists()


def test_the_exploit_is_real(tmp_path):
    # The payload above does run when a file is loaded unsafely, so the test above means something.
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "evil.pt"
    torch.save({"conv1.weight": exploit}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_torchscript_archive(tmp_path, model):
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated in recent releases
        torch.jit.script(model).save(str(path))
    _refused(path, "TorchScript")


def test_not_a_dict_of_tensors(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    _refused(path, "list")
    torch.save({"conv1.weight": 3}, path)
    _refused(path, "not a state dict")


def test_other_architecture_names_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "mlp.pt"
    other = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))
    torch.save(other.state_dict(), path)
    _refused(path, "missing keys", "unexpected keys", "conv1.weight", "1.weight")


def test_one_missing_key(tmp_path, model):
    path = tmp_path / "partial.pt"
    state = dict(model.state_dict())
    del state["fc2.bias"]
    message = _refused(path_with(path, state), "missing keys: fc2.bias")
    assert "unexpected" not in message


def test_a_training_wrapper_prefix_on_every_key_is_taken_off(tmp_path, model):
    """Lightning saves `model.conv1.weight` when the network is the module's `model` attribute."""
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    loaded = load_model(path_with(tmp_path / "lightning.ckpt", {"state_dict": state, "epoch": 3}))
    assert torch.equal(loaded.conv1.weight, model.conv1.weight)
    # With the prefix off, what is still wrong is named in the model's own key names.
    state = {f"model.{k}": v for k, v in model.state_dict().items() if k != "fc2.bias"}
    assert "unexpected" not in _refused(path_with(tmp_path / "partial.ckpt", state), "missing keys: fc2.bias")
    # A prefix that would leave keys the model does not have is not guessed away.
    state = {f"model.{k}": v for k, v in model.state_dict().items()} | {"model.head.weight": torch.zeros(1)}
    _refused(path_with(tmp_path / "other.ckpt", state), "unexpected keys: model.")


def test_files_without_batchnorm_counters_open(tmp_path):
    """Files from before PyTorch 0.4.1 have no `num_batches_tracked` (evaluation never reads it)."""
    import torchvision

    state = torchvision.models.resnet18(num_classes=7).state_dict()
    kept = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(kept) < len(state)
    loaded = load_model("torchvision:resnet18", checkpoint=path_with(tmp_path / "old.pt", kept))
    assert torch.equal(loaded.inner.layer1[0].bn1.running_var, state["layer1.0.bn1.running_var"])


def test_long_key_lists_are_cut_to_a_few_and_a_count(tmp_path):
    path = tmp_path / "mlp.pt"
    other = nn.Sequential(*[nn.Linear(4, 4) for _ in range(30)])
    torch.save(other.state_dict(), path)
    message = _refused(path, "unexpected keys: 0.bias, 0.weight, 1.bias", "(60 in all)")
    assert len(message) < 600, message


def test_wrong_shapes(tmp_path):
    path = path_with(tmp_path / "five.pt", SeedNet(num_classes=5).state_dict())
    _refused(path, "wrong shapes", "fc2.weight (5, 1024) (expected (10, 1024))", "fc2.bias")


def test_check_architecture_accepts_seednet():
    check_architecture(SeedNet().state_dict(), "x.pt")


def test_safetensors_without_the_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    path = tmp_path / "weights.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    _refused(path, "safetensors")


# --- atomic saving -------------------------------------------------------------------------------


def test_atomic_save_leaves_no_temp_file(tmp_path):
    path = tmp_path / "a.pt"
    atomic_save({"x": torch.ones(3)}, path)
    atomic_save({"x": torch.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["a.pt"]
    torch.testing.assert_close(read_state_dict(path)["x"], torch.zeros(3))


def test_atomic_save_keeps_the_old_file_when_saving_fails(tmp_path, monkeypatch):
    path = tmp_path / "a.pt"
    atomic_save({"x": torch.ones(3)}, path)
    before = path.read_bytes()

    def half_written(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"x": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.pt"]


def test_atomic_save_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "new.pt"

    def interrupted(obj, f, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"x": torch.zeros(3)}, path)
    assert os.listdir(tmp_path) == []


# --- snapshots and the bundled files -------------------------------------------------------------


def test_snapshots_round_trip(tmp_path):
    path = tmp_path / "snaps.pt"
    flat = {f"epoch{e}/conv1.weight": torch.full((2,), float(e)) for e in (10, 2, 0)}
    flat["epoch2/conv2.weight"] = torch.zeros(1)
    atomic_save(flat, path)
    snaps = load_snapshots(path)
    assert list(snaps) == [0, 2, 10]
    assert set(snaps[2]) == {"conv1.weight", "conv2.weight"}
    torch.testing.assert_close(snaps[10]["conv1.weight"], torch.full((2,), 10.0))


@pytest.mark.parametrize("key", ["conv1.weight", "epochs/conv1.weight", "epoch3/"])
def test_snapshots_bad_keys(tmp_path, key):
    path = path_with(tmp_path / "snaps.pt", {key: torch.zeros(1)})
    with pytest.raises(CheckpointError, match="not a snapshot file") as info:
        load_snapshots(path)
    assert str(path) in str(info.value)


def test_bundled_model_loads():
    assert BUNDLED_MODEL.is_file(), f"{BUNDLED_MODEL} is missing: the package ships without its model"
    model = load_model()
    assert isinstance(model, SeedNet) and not model.training
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bundled_snapshots_load():
    assert BUNDLED_SNAPSHOTS.is_file(), f"{BUNDLED_SNAPSHOTS} is missing: the package ships without its snapshots"
    snaps = load_snapshots()
    assert snaps
    expected = SeedNet().state_dict()
    for params in snaps.values():
        for name, value in params.items():
            assert value.shape == expected[name].shape


def test_bundled_paths_point_into_the_weights_package():
    from explorer.core.loading import bundled_snapshots, bundled_weights

    assert checkpoint.WEIGHTS.name == "weights" and checkpoint.WEIGHTS.parent.name == "explorer"
    assert bundled_weights("seednet") == BUNDLED_MODEL and bundled_snapshots("seednet") == BUNDLED_SNAPSHOTS
