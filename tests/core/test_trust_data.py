"""Data and caches (issue #16): no stale scan served, damaged cache entries rebuilt, FIFOs never read,
symlink loops walked once, extreme aspect ratios cheap, odd checkpoint tensors named, unreadable
folders named.
"""

import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from trust_helpers import BLUE, GREEN, one_error_line, png

from explorer.cli import main
from explorer.core.datasets import open_dataset, open_folder
from explorer.core.errors import CheckpointError, DataError
from explorer.core.images import read_image
from explorer.core.loading import load_model
from explorer.core.scan import CACHE_FORMAT, FIELDS, cache_key, cached_scan, load_top_k, scan_top_k

pytestmark = pytest.mark.usefixtures("private_cache")
REPO = Path(__file__).resolve().parents[2]


def _noise_folder(folder: Path, seed: int, n: int = 12) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def _in_thread(fn, timeout: float = 60.0):
    """fn() on a thread, failing the test (not hanging it) when it blocks."""
    out: list = []

    def call() -> None:
        try:
            out.append((True, fn()))
        except BaseException as exc:
            out.append((False, exc))

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"blocked for {timeout} s"
    ok, value = out[0]
    if not ok:
        raise value
    return value


# --- the scan cache ------------------------------------------------------------------------------


@pytest.mark.parametrize("change", ["replace_all", "replace_one_same_size", "touch_one"])
def test_files_replaced_under_the_same_names_are_rescanned(change, model, tmp_path):
    folder = _noise_folder(tmp_path / "imgs", seed=1)
    first, hit = cached_scan(model, open_folder(folder), ["conv1"], 3, tmp_path / "scans")
    assert not hit and cached_scan(model, open_folder(folder), ["conv1"], 3, tmp_path / "scans")[1]
    if change == "replace_all":
        _noise_folder(folder, seed=2)  # 12 other images, same names, same count
    elif change == "replace_one_same_size":
        target = folder / "05.png"
        data = bytearray(target.read_bytes())
        stat = target.stat()
        Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(target)  # white: conv1's top image changes
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old time, the size differs
        assert target.read_bytes() != bytes(data)
    else:
        os.utime(folder / "05.png", ns=(0, 10**18))
    again, hit = cached_scan(model, open_folder(folder), ["conv1"], 3, tmp_path / "scans")
    assert not hit
    fresh = scan_top_k(model, open_folder(folder), ["conv1"], 3)
    np.testing.assert_array_equal(again["conv1"].values, fresh["conv1"].values)
    if change == "replace_all":
        assert not np.array_equal(again["conv1"].values, first["conv1"].values)


def test_the_cache_key_carries_a_format_version_and_in_memory_pixels(model, monkeypatch):
    from explorer.core import scan as scan_module
    from explorer.core.images import ImageSet

    pixels = np.zeros((4, 32, 32, 3), np.uint8)
    a = ImageSet("a", ("x",), np.zeros(4), pixels=pixels.copy(), source_key="same")
    b = ImageSet("b", ("x",), np.zeros(4), pixels=pixels + 1, source_key="same")
    assert cache_key(model, a, ["conv1"], 3) != cache_key(model, b, ["conv1"], 3)
    key = cache_key(model, a, ["conv1"], 3)
    monkeypatch.setattr(scan_module, "CACHE_FORMAT", CACHE_FORMAT + 1)
    assert cache_key(model, a, ["conv1"], 3) != key


def _entry(tmp_path: Path) -> Path:
    (entry,) = tmp_path.glob("topk-*.npz")
    return entry


def _damage(entry: Path, how: str) -> None:
    data = load_top_k(entry)
    arrays = {f"{layer}.{f}": getattr(t, f) for layer, t in data.items() for f in FIELDS}
    if how == "index_out_of_range":
        arrays["conv1.indices"] = arrays["conv1.indices"] + 10_000
    elif how == "negative_index":
        arrays["conv1.indices"] = arrays["conv1.indices"] - 10_000
    elif how == "wrong_shape":
        arrays["conv1.values"] = arrays["conv1.values"][:5]
    elif how == "wrong_k":
        arrays = {k: v[:, :1] for k, v in arrays.items()}
    elif how == "nan_values":
        arrays["conv1.values"] = np.full_like(arrays["conv1.values"], np.nan)
    elif how == "missing_layer":
        arrays = {}
    entry.unlink()
    if how == "folder":
        entry.mkdir()
        (entry / "inside").write_text("not an archive")
    elif how == "fifo":
        os.mkfifo(entry)
    else:
        with open(entry, "wb") as fh:
            np.savez(fh, **arrays)


DAMAGE = [
    "index_out_of_range",
    "negative_index",
    "wrong_shape",
    "wrong_k",
    "nan_values",
    "missing_layer",
    "folder",
    "fifo",
]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_entry_is_validated_rebuilt_and_never_blocks(how, model, tmp_path):
    folder = _noise_folder(tmp_path / "imgs", seed=3)
    first, _ = cached_scan(model, open_folder(folder), ["conv1"], 3, tmp_path / "scans")
    entry = _entry(tmp_path / "scans")
    _damage(entry, how)
    again, hit = _in_thread(lambda: cached_scan(model, open_folder(folder), ["conv1"], 3, tmp_path / "scans"))
    assert not hit
    np.testing.assert_array_equal(again["conv1"].indices, first["conv1"].indices)
    assert entry.is_file() and not entry.is_symlink()  # rebuilt as a regular file
    assert cached_scan(model, open_folder(folder), ["conv1"], 3, tmp_path / "scans")[1]


def test_export_topk_with_a_damaged_entry_gives_the_right_figure(ckpt, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path / "cache"))
    folder = _noise_folder(tmp_path / "imgs", seed=4)
    argv = ["export", "topk", "--data", str(folder), "--checkpoint", str(ckpt), "--device", "cpu", "-k", "2",
            "--features", "0:4", "--out", str(tmp_path / "a.png")]  # fmt: skip
    assert main(argv) == 0
    _damage(_entry(tmp_path / "cache" / "scans"), "index_out_of_range")
    argv[-1] = str(tmp_path / "b.png")
    assert _in_thread(lambda: main(argv)) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


# --- FIFOs, devices and symlink loops in image folders ---------------------------------------------


def test_a_fifo_among_the_images_is_named_and_never_opened(ckpt, tmp_path, capsys):
    png(tmp_path / "imgs" / "cat" / "0.png", GREEN)
    png(tmp_path / "imgs" / "dog" / "0.png", BLUE)
    os.mkfifo(tmp_path / "imgs" / "cat" / "pipe.png")
    os.mkfifo(tmp_path / "imgs" / "flat.jpg")
    ds = _in_thread(lambda: open_folder(tmp_path / "imgs"))
    assert len(ds) == 2 and not any("pipe" in p for p in ds.paths)
    assert sorted(Path(p).name for p, _ in ds.skipped) == ["flat.jpg", "pipe.png"]
    assert all("FIFO" in why for _, why in ds.skipped)
    code = _in_thread(
        lambda: main(["evaluate", "--data", str(tmp_path / "imgs"), "--checkpoint", str(ckpt), "--device", "cpu"])
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "pipe.png: is a FIFO" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_read_image_refuses_what_is_not_a_regular_file_without_blocking(kind, tmp_path):
    path = tmp_path / "x.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero")  # would never end if read
    with pytest.raises(DataError, match="not an image file"):
        _in_thread(lambda: read_image(path), timeout=10)


def test_a_symlink_loop_is_walked_once(tmp_path):
    root = tmp_path / "imgs"
    png(root / "cat" / "0.png", GREEN)
    png(root / "cat" / "deep" / "1.png", GREEN)
    png(root / "dog" / "0.png", BLUE)
    (root / "cat" / "up").symlink_to("..")  # cat/up/cat/up/... forever, to os.walk
    (root / "cat" / "deep" / "again").symlink_to(root / "cat")
    (root / "dog" / "self").symlink_to(".")
    started = time.perf_counter()
    ds = _in_thread(lambda: open_folder(root), timeout=30)
    assert time.perf_counter() - started < 10
    assert len(ds.paths) == len({os.path.realpath(p) for p in ds.paths}) == 3
    assert list(ds.labels) == [0, 0, 1]


# --- extreme sizes -------------------------------------------------------------------------------

_PEAK = """
import resource, sys, time
from explorer.core.images import read_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
pixels = read_image(sys.argv[1])
print(pixels.shape, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, time.perf_counter() - t0)
"""


@pytest.mark.parametrize("size", [(1_000_000, 1), (1, 1_000_000), (200_000, 3)])
def test_an_extreme_aspect_ratio_costs_little_memory_and_time(size, tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", size, (10, 200, 30)).save(path)
    assert path.stat().st_size < 10_000
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    shape, grown_mb, seconds = done.stdout.rsplit(maxsplit=2)
    assert shape == "(32, 32, 3)"
    assert int(grown_mb) < 200, f"{grown_mb} MB"
    assert float(seconds) < 5
    assert (read_image(path) == (10, 200, 30)).all()


# --- checkpoints with tensors that load but are not plain weights -----------------------------------


def _odd_state(model, kind: str) -> tuple[dict, str]:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    name = "conv2.weight"
    if kind == "sparse":
        state[name] = state[name].to_sparse()
    elif kind == "sparse_csr":
        name = "fc1.weight" if "fc1.weight" in state else next(k for k, v in state.items() if v.dim() == 2)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CSR is "beta": a file may hold one all the same
            state[name] = state[name].to_sparse_csr()
    elif kind == "meta":
        state[name] = torch.empty(state[name].shape, device="meta")
    elif kind == "quantized":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensors are deprecated: exactly why a file may hold one
            state[name] = torch.quantize_per_tensor(state[name], 0.01, 0, torch.qint8)
    elif kind == "complex":
        state[name] = state[name].to(torch.complex64)
    return state, name


@pytest.mark.parametrize("kind", ["sparse", "sparse_csr", "meta", "quantized", "complex"])
def test_odd_tensors_in_a_checkpoint_are_one_line_naming_the_tensor(kind, model, tmp_path, capsys):
    state, name = _odd_state(model, kind)
    path = tmp_path / f"{kind}.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=name):
        load_model(path)
    assert (
        main(
            ["scan", "--data", "probes", "--checkpoint", str(path), "--device", "cpu", "--out", str(tmp_path / "x.npz")]
        )
        == 2
    )
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    one_error_line(captured.err, str(path), f"tensor {name}")
    assert not (tmp_path / "x.npz").exists()


# --- unreadable folders --------------------------------------------------------------------------

needs_non_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads a mode-000 folder anyway (the simulated test covers it)",
)


@needs_non_root
def test_an_unreadable_data_root_is_named(tmp_path, capsys):
    root = png(tmp_path / "imgs" / "cat" / "0.png", GREEN).parents[1]
    root.chmod(0)
    try:
        assert main(["evaluate", "--data", str(root), "--device", "cpu"]) == 2
    finally:
        root.chmod(0o755)
    one_error_line(capsys.readouterr().err, str(root), "cannot be read", "Permission denied")


@needs_non_root
def test_an_unreadable_class_folder_is_named(tmp_path):
    png(tmp_path / "imgs" / "cat" / "0.png", GREEN)
    dog = png(tmp_path / "imgs" / "dog" / "0.png", BLUE).parent
    dog.chmod(0)
    try:
        ds = open_folder(tmp_path / "imgs")
    finally:
        dog.chmod(0o755)
    assert len(ds) == 1 and [p for p, _ in ds.skipped] == [str(dog)]


def _refuse(blocked: Path, monkeypatch) -> None:
    """What mode 000 does for a user without root's capabilities: the folder cannot be listed."""
    real = os.scandir

    def scandir(path="."):
        if os.path.realpath(path) == os.path.realpath(blocked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unlistable_data_root_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    root = png(tmp_path / "imgs" / "cat" / "0.png", GREEN).parents[1]
    _refuse(root, monkeypatch)
    with pytest.raises(DataError, match="cannot be read"):
        open_dataset(str(root))
    assert main(["evaluate", "--data", str(root), "--device", "cpu"]) == 2
    one_error_line(capsys.readouterr().err, str(root), "cannot be read", "Permission denied")


def test_an_unlistable_class_folder_is_named_and_the_rest_load(tmp_path, ckpt, monkeypatch, capsys):
    png(tmp_path / "imgs" / "cat" / "0.png", GREEN)
    dog = png(tmp_path / "imgs" / "dog" / "0.png", BLUE).parent
    _refuse(dog, monkeypatch)
    ds = open_folder(tmp_path / "imgs")
    assert len(ds) == 1 and ds.classes == ("cat", "dog")
    assert [p for p, _ in ds.skipped] == [str(dog)]
    assert main(["evaluate", "--data", str(tmp_path / "imgs"), "--checkpoint", str(ckpt), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert f"{dog}: folder cannot be read (Permission denied)" in err


def test_resource_module_reports_kilobytes():
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 1000  # the peak test above reads kB (Linux)
