"""A failed write leaves the previous file byte for byte and no temporary file; the error names path and reason."""

import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from explorer.analyses.grid import GridFigure
from explorer.render import write
from explorer.render.files import WriteError


@pytest.fixture
def small_figure():
    tile = np.full((4, 4, 3), 90, dtype=np.uint8)
    return GridFigure("A title", "A caption.", (tile, tile), ("f0", "f1"))


def _failing_save(exc):
    def save(self, fname, *args, **kwargs):
        fname.write(b"half a figure")  # the failure comes midway, after some bytes
        raise exc

    return save


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_failed_write_keeps_the_previous_file(small_figure, tmp_path, monkeypatch, ext):
    target = tmp_path / f"figure.{ext}"
    write(small_figure, target)
    before = target.read_bytes()
    monkeypatch.setattr(Figure, "savefig", _failing_save(OSError(28, "No space left on device")))
    with pytest.raises(WriteError) as info:
        write(small_figure, target)
    assert str(info.value) == f"{target}: cannot write {ext.upper()} (No space left on device)"
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == [target.name]


def test_failed_first_write_leaves_nothing(small_figure, tmp_path, monkeypatch):
    monkeypatch.setattr(Figure, "savefig", _failing_save(ValueError("bad image data")))
    with pytest.raises(WriteError, match=r"new\.pdf: cannot write PDF \(bad image data\)"):
        write(small_figure, tmp_path / "new.pdf")
    assert os.listdir(tmp_path) == []


def test_interrupt_is_not_swallowed_but_still_cleans_up(small_figure, tmp_path, monkeypatch):
    monkeypatch.setattr(Figure, "savefig", _failing_save(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write(small_figure, tmp_path / "new.png")
    assert os.listdir(tmp_path) == []


def test_written_file_gets_the_usual_permissions(small_figure, tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = write(small_figure, tmp_path / "fig.png")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not the 0o600 of a temporary file
    path.chmod(0o640)
    write(small_figure, path)
    assert path.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode
