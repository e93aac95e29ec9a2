"""Faults: failed downloads, crashes during a scan, read-only folders and full disks lose nothing (issue #7).

Covered elsewhere, not repeated here: see the list at the top of tests/core/test_trust_inputs.py.
"""

import errno
import http.client
import io
import os
import tempfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets.utils as tv_utils
from trust_helpers import BLUE, GREEN, one_error_line, png

from explorer.cli import main
from explorer.core.datasets import open_dataset
from explorer.core.errors import DataUnavailable
from explorer.core.images import ImageSet
from explorer.core.scan import cached_scan, scan_top_k

pytestmark = pytest.mark.usefixtures("private_cache")


# --- data sources --------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["url_error", "incomplete_read", "short_body", "interrupt"])
def test_a_download_failing_midway_leaves_no_partial_archive(fault, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(cache))

    def partial(url, filename, chunk_size=0):
        Path(filename).write_bytes(b"\x1f\x8b\x08" + b"half an archive" * 100)
        if fault == "url_error":
            raise urllib.error.URLError(ConnectionResetError(104, "Connection reset by peer"))
        if fault == "incomplete_read":
            raise http.client.IncompleteRead(b"partial", 170_000_000)
        if fault == "interrupt":
            raise KeyboardInterrupt
        # short_body: the server closed early without an error; torchvision's md5 check notices

    monkeypatch.setattr(tv_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tv_utils, "_urlretrieve", partial)
    if fault == "interrupt":
        with pytest.raises(KeyboardInterrupt):
            open_dataset("cifar10", "test", download=True)
    else:
        with pytest.raises(DataUnavailable) as info:
            open_dataset("cifar10", "test", download=True)
        message = str(info.value)
        assert str(cache) in message and "try again" in message
    assert not (cache / "cifar-10-python.tar.gz").exists()
    assert not (cache / "cifar-10-batches-py").exists()
    with pytest.raises(DataUnavailable, match="not downloaded"):
        open_dataset("cifar10", "test", download=False)


# --- compute: faults during a scan commit no cache -----------------------------------------------


@pytest.fixture
def images() -> ImageSet:
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    return ImageSet("random", ("a",), np.zeros(40, dtype=np.int64), pixels=pixels, source_key="trust-40")


def test_a_failing_progress_callback_commits_no_cache(model, images, tmp_path):
    def progress(done, total):
        if done > 16:
            raise RuntimeError("the window went away")

    with pytest.raises(RuntimeError, match="went away"):
        cached_scan(model, images, ["conv1"], 3, tmp_path / "scans", batch_size=8, progress=progress)
    assert not (tmp_path / "scans").exists() or os.listdir(tmp_path / "scans") == []
    _, hit = cached_scan(model, images, ["conv1"], 3, tmp_path / "scans")
    assert not hit


def test_a_decoding_crash_commits_no_cache(model, images, tmp_path, monkeypatch):
    real = images.images

    def crash_late(indices):
        if np.max(indices) >= 24:
            raise MemoryError("decoding ran out of memory")
        return real(indices)

    monkeypatch.setattr(images, "images", crash_late)
    with pytest.raises(MemoryError):
        cached_scan(model, images, ["conv1"], 3, tmp_path / "scans", batch_size=8)
    assert not (tmp_path / "scans").exists() or os.listdir(tmp_path / "scans") == []


def test_a_truncated_cache_entry_is_rescanned(model, images, tmp_path):
    first, _ = cached_scan(model, images, ["conv1"], 3, tmp_path)
    (entry,) = tmp_path.glob("topk-*.npz")
    entry.write_bytes(entry.read_bytes()[:300])
    again, hit = cached_scan(model, images, ["conv1"], 3, tmp_path)
    assert not hit
    np.testing.assert_array_equal(again["conv1"].indices, first["conv1"].indices)
    assert cached_scan(model, images, ["conv1"], 3, tmp_path)[1]


def test_a_cache_that_cannot_be_written_still_gives_the_scan(model, images, tmp_path, monkeypatch):
    def full_disk(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    notices = []
    results, hit = cached_scan(model, images, ["conv1"], 3, tmp_path, notice=notices.append)
    assert not hit and notices == [f"scan not cached: {tmp_path}: No space left on device"]
    monkeypatch.undo()
    np.testing.assert_array_equal(results["conv1"].indices, scan_top_k(model, images, ["conv1"], 3)["conv1"].indices)
    assert os.listdir(tmp_path) == []


# --- writes: read-only folder and full disk, for every command that writes ------------------------

PREVIOUS = b"the previous file, which must survive\n"


def _make_read_only(folder: Path, monkeypatch) -> None:
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):  # as root, chmod does not stop writes: simulate what it would do
        return
    real_mkstemp = tempfile.mkstemp

    def refused(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refused)


class _FullDisk(io.FileIO):
    """A file on a disk with room for 64 more bytes."""

    room = 64

    def write(self, b):
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = super().write(bytes(b)[: self.room])
        self.room -= n
        return n


def _make_full(folder: Path, monkeypatch) -> None:
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        if Path(os.readlink(f"/proc/self/fd/{fd}")).parent == folder.resolve() and "w" in mode:
            return io.BufferedWriter(_FullDisk(fd, "wb"))
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    for split in ("train", "test"):
        for cls, colour in (("cat", GREEN), ("dog", BLUE)):
            for i in range(2):
                png(root / split / cls / f"{i}.png", colour, size=(32, 32))
    return root


def _argv(command: str, out: Path, ckpt: Path, tiny: Path, elsewhere: Path) -> list[str]:
    if command == "export":
        return ["export", "maps", "--data", "probes", "--checkpoint", str(ckpt), "--device", "cpu", "--out", str(out)]
    if command == "scan":
        return ["scan", "--data", "probes", "--checkpoint", str(ckpt), "--device", "cpu", "-k", "2", "--out", str(out)]
    return ["train", "--data", str(tiny), "--epochs", "1", "--device", "cpu", "--out", str(out),
            "--snapshots-out", str(elsewhere / "snaps.pt")]  # fmt: skip


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds the file behind a descriptor in /proc")
@pytest.mark.parametrize("fault", ["read_only", "full_disk"])
@pytest.mark.parametrize(("command", "name"), [("export", "fig.png"), ("scan", "top.npz"), ("train", "model.pt")])
def test_a_failed_write_names_the_file_and_keeps_the_previous_one(
    command, name, fault, tmp_path, monkeypatch, capsys, ckpt, tiny_split
):
    folder = tmp_path / "results"
    folder.mkdir()
    out = folder / name
    out.write_bytes(PREVIOUS)
    try:
        (_make_read_only if fault == "read_only" else _make_full)(folder, monkeypatch)
        code = main(_argv(command, out, ckpt, tiny_split, tmp_path))
    finally:
        folder.chmod(0o755)
    assert code == 2
    reason = "Permission denied" if fault == "read_only" else "No space left on device"
    # A read-only folder is found before any work; on a full disk, train's first write is the model itself.
    one_error_line(capsys.readouterr().err, f"error: {out}: cannot write", reason)
    assert out.read_bytes() == PREVIOUS
    assert os.listdir(folder) == [name]
