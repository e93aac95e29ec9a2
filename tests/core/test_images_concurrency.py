"""ImageSet.images from several threads: views never wait behind a batch another thread decodes."""

from __future__ import annotations

import threading

import numpy as np

import explorer.core.images as images_mod
from explorer.core.images import ImageSet

WAIT_S = 20.0  # a bound for a hang only: on a working set the events are set at once


def _slow_set(monkeypatch, n: int = 8):
    """A lazy set of `n` fake files whose decoder blocks on files 4.. until `release` is set."""
    release = threading.Event()
    decoding = threading.Event()

    def fake_read(path: str) -> np.ndarray:
        i = int(path.rsplit("-", 1)[1])
        if i >= 4:
            decoding.set()
            assert release.wait(WAIT_S), "the test never released the slow decoder"
        return np.full((32, 32, 3), i, dtype=np.uint8)

    monkeypatch.setattr(images_mod, "read_image", fake_read)
    ds = ImageSet("fake", ("a",), np.zeros(n, dtype=np.int64), paths=[f"img-{i}" for i in range(n)])
    return ds, release, decoding


def _in_thread(fn):
    done = threading.Event()
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        finally:
            done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, done, out


def test_decoded_images_do_not_wait_behind_a_decoding_batch(monkeypatch):
    ds, release, decoding = _slow_set(monkeypatch)
    ds.images([0, 1, 2])  # decoded: what a view shows
    _scan, scan_done, scan_out = _in_thread(lambda: ds.images(np.arange(4, 8)))  # the scan's slow batch
    assert decoding.wait(WAIT_S)
    _view, view_done, view_out = _in_thread(lambda: ds.images([0, 2]))
    try:
        assert view_done.wait(WAIT_S), "a view's decoded images waited for another thread's batch"
        assert not scan_done.is_set()  # the batch was still decoding when the view got its images
        assert [int(p[0, 0, 0]) for p in view_out[0]] == [0, 2]
    finally:
        release.set()
    assert scan_done.wait(WAIT_S)
    assert [int(p[0, 0, 0]) for p in scan_out[0]] == [4, 5, 6, 7]
    assert all(ds.is_decoded(i) for i in range(4, 8))


def test_a_new_image_decodes_beside_another_threads_batch(monkeypatch):
    ds, release, decoding = _slow_set(monkeypatch)
    _scan, scan_done, _ = _in_thread(lambda: ds.images(np.arange(4, 8)))
    assert decoding.wait(WAIT_S)
    _view, view_done, view_out = _in_thread(lambda: ds.images([3]))  # not decoded yet, a fast file
    try:
        assert view_done.wait(WAIT_S), "a view's new image waited for another thread's batch"
        assert int(view_out[0][0, 0, 0, 0]) == 3 and ds.is_decoded(3)
        assert not ds.is_decoded(4)  # published only when its batch is done
    finally:
        release.set()
    assert scan_done.wait(WAIT_S)


def test_failures_are_published_with_their_images(monkeypatch):
    def failing(path: str) -> np.ndarray:
        raise images_mod.DataError(f"{path}: cannot be read as an image (broken)")

    monkeypatch.setattr(images_mod, "read_image", failing)
    ds = ImageSet("fake", ("a",), np.zeros(3, dtype=np.int64), paths=["x-0", "x-1", "x-2"])
    out = ds.images([1, 1, 2])
    assert out.shape == (3, 32, 32, 3) and not out.any()
    assert sorted(ds.failures) == [1, 2] and "x-1" in ds.failures[1]
    assert ds.is_decoded(1) and not ds.is_decoded(0)
