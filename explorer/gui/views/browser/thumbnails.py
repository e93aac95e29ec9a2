"""A lazy list model over an ImageSet: thumbnails decoded on demand, predictions filled in as they arrive.

Filtering is an index array (numpy over labels and predictions), so 50,000 rows filter at once.
The GUI thread never reads an image file: a thumbnail not decoded yet shows as a grey square while
a background thread decodes it (with the others asked for meanwhile), then its row is repainted.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from explorer.core.images import ImageSet

ICON = 64
DECODE_BATCH = 64  # thumbnails decoded per background job
INDEX_ROLE = Qt.ItemDataRole.UserRole + 1
OUTCOMES = ("all", "right", "wrong")
UNKNOWN, UNREADABLE = -1, -2  # predicted values: not predicted yet; the file could not be read (never predicted)
_RIGHT, _WRONG = QColor(30, 130, 60), QColor(200, 40, 40)


def model_labels(images: ImageSet, classes: Sequence[str]) -> np.ndarray:
    """The true labels as indices into the model's `classes` (-1 where the class is unknown or not one of them)."""
    lookup = np.array([classes.index(c) if c in classes else -1 for c in images.classes] + [-1], dtype=np.int64)
    return lookup[np.where(images.labels >= 0, images.labels, len(images.classes))]


@dataclass(frozen=True)
class ThumbnailFilter:
    true_class: int = -1  # -1: any
    predicted_class: int = -1  # -1: any
    outcome: str = "all"  # "all", "right" or "wrong"

    def uses_predictions(self) -> bool:
        return self.predicted_class >= 0 or self.outcome != "all"

    def accept(self, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """Boolean mask of the accepted images; unknown predictions never pass a prediction filter.

        Unreadable images pass no filter at all: they show only when nothing is filtered.
        """
        keep = np.ones(len(truth), dtype=bool)
        if self != ThumbnailFilter():
            keep &= predicted != UNREADABLE
        if self.true_class >= 0:
            keep &= truth == self.true_class
        if self.predicted_class >= 0:
            keep &= predicted == self.predicted_class
        if self.outcome != "all":
            known = (predicted >= 0) & (truth >= 0)
            keep &= known & ((truth == predicted) == (self.outcome == "right"))
        return keep


class ThumbnailDecoder(QObject):
    """Decodes the images asked for on one background thread, a batch at a time; `decoded` reports them."""

    decoded = Signal(object, object)  # the ImageSet, tuple of indices now in memory

    def __init__(self) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="thumbnails")
        self._images: ImageSet | None = None
        self._pending: dict[int, None] = {}  # insertion-ordered: the first asked is decoded first
        self._busy = False
        self._closed = False
        self.decoded.connect(self._on_decoded)

    def want(self, images: ImageSet, index: int) -> None:
        if self._closed:
            return
        if images is not self._images:
            self._images, self._pending = images, {}
        self._pending[index] = None
        if not self._busy:
            self._submit()

    def close(self) -> None:
        """Drop what waits; a batch being decoded finishes on its own and is ignored."""
        self._closed = True
        self._pending = {}
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self) -> None:
        images = self._images
        if images is None or not self._pending or self._closed:
            return
        batch = tuple(list(self._pending)[:DECODE_BATCH])
        for i in batch:
            del self._pending[i]
        self._busy = True
        future: Future[np.ndarray] = self._pool.submit(images.images, list(batch))
        # Runs on the pool's thread; the signal is queued to this object's (the GUI) thread.
        future.add_done_callback(lambda _f: self._report(images, batch))

    def _report(self, images: ImageSet, batch: tuple[int, ...]) -> None:
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # the window, and this object, may be gone by now
                self.decoded.emit(images, batch)

    def _on_decoded(self, _images: ImageSet, _batch: tuple[int, ...]) -> None:
        self._busy = False
        self._submit()


class ThumbnailModel(QAbstractListModel):
    def __init__(self, classes: Sequence[str], cache_size: int = 2048) -> None:
        super().__init__()
        self.classes = tuple(classes)
        self.images: ImageSet | None = None
        self.truth = np.zeros(0, np.int64)
        self.predicted = np.zeros(0, np.int64)
        self.filter = ThumbnailFilter()
        self.rows = np.zeros(0, np.int64)
        self.reasons = {}
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._cache_size = cache_size
        self._placeholder: QPixmap | None = None
        self.decoder = ThumbnailDecoder()
        self.decoder.decoded.connect(self._on_decoder_decoded)

    def close(self) -> None:
        """Stop decoding in the background (the window is closing)."""
        self.decoder.close()

    def set_images(self, images: ImageSet) -> None:
        self.beginResetModel()
        self.images = images
        self.truth = model_labels(images, self.classes)
        self.predicted = np.full(len(images), UNKNOWN, np.int64)
        self.reasons: dict[int, str] = {}  # why each unreadable image could not be read
        self._cache.clear()
        self.rows = np.flatnonzero(self.filter.accept(self.truth, self.predicted))
        self.endResetModel()

    def set_filter(self, flt: ThumbnailFilter) -> None:
        self.beginResetModel()
        self.filter = flt
        self.rows = np.flatnonzero(self.filter.accept(self.truth, self.predicted))
        self.endResetModel()

    def set_predictions(self, start: int, predicted: np.ndarray, unreadable: Sequence[tuple[int, str]] = ()) -> None:
        """Record predicted classes of images start..start+n and update (or insert) their rows.

        The images in `unreadable` ((image, reason) pairs) are marked so and get no prediction.
        """
        stop = start + len(predicted)
        predicted = np.array(predicted, dtype=np.int64)
        for i, reason in unreadable:
            self.reasons[int(i)] = reason
            predicted[int(i) - start] = UNREADABLE
        self.predicted[start:stop] = predicted
        lo, hi = np.searchsorted(self.rows, [start, stop])
        new = start + np.flatnonzero(self.filter.accept(self.truth[start:stop], predicted))
        if hi > lo and np.array_equal(self.rows[lo:hi], new):
            self.dataChanged.emit(self.index(int(lo)), self.index(int(hi) - 1))
        elif hi == lo and len(new):
            self.beginInsertRows(QModelIndex(), int(lo), int(lo) + len(new) - 1)
            self.rows = np.concatenate([self.rows[:lo], new, self.rows[lo:]])
            self.endInsertRows()
        elif hi > lo or len(new):
            self.set_filter(self.filter)

    def row_of(self, image: int) -> int | None:
        """The row showing dataset image `image`, or None when the filter hides it."""
        r = int(np.searchsorted(self.rows, image))
        return r if r < len(self.rows) and self.rows[r] == image else None

    def nearest_row(self, image: int) -> int:
        """The row of `image`, or of the first shown image after it (clamped to the last row)."""
        return min(int(np.searchsorted(self.rows, image)), max(len(self.rows) - 1, 0))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or self.images is None:
            return None
        i = int(self.rows[index.row()])
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(i)
        reason = self.reason(i)
        if reason and role == Qt.ItemDataRole.DisplayRole:
            return f"{self.images.caption(i)}\n⚠ unreadable"
        if reason and role == Qt.ItemDataRole.ToolTipRole:
            return f"image #{i} could not be read, so it has no prediction: {reason}"
        if role == Qt.ItemDataRole.DisplayRole:
            pred = self.predicted[i]
            guess = self.classes[pred] if pred >= 0 else "…"
            if pred >= 0 and pred == self.truth[i]:
                return f"{self.images.caption(i)}\n✓ right"  # the guess is the label above: no need to repeat it
            mark = " ✗" if pred >= 0 and self.truth[i] >= 0 else ""
            return f"{self.images.caption(i)}\n→ {guess}{mark}"
        if role == Qt.ItemDataRole.ForegroundRole:
            pred, truth = self.predicted[i], self.truth[i]
            return None if pred < 0 or truth < 0 else (_RIGHT if pred == truth else _WRONG)
        if role == Qt.ItemDataRole.ToolTipRole:
            pred = self.predicted[i]
            return f"image #{i}: {self.images.caption(i)}; predicted {self.classes[pred] if pred >= 0 else 'not yet'}"
        if role == INDEX_ROLE:
            return i
        return None

    def reason(self, i: int) -> str:
        """Why image `i` could not be read ("" when it could, or is not decoded yet)."""
        if i in self.reasons:
            return self.reasons[i]
        return self.images.failures.get(i, "") if self.images is not None else ""

    def _pixmap(self, i: int) -> QPixmap:
        pix = self._cache.get(i)
        if pix is not None:
            self._cache.move_to_end(i)
            return pix
        assert self.images is not None
        if not self.images.is_decoded(i):
            self.decoder.want(self.images, i)
            return self._grey()
        rgb = np.ascontiguousarray(self.images.image(i))
        h, w = rgb.shape[:2]
        qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        pix = QPixmap.fromImage(qimage).scaled(
            ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
        if self.reason(i):
            pix = _warning_pixmap()
        self._cache[i] = pix
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return pix

    def _grey(self) -> QPixmap:
        if self._placeholder is None:
            self._placeholder = QPixmap(ICON, ICON)
            self._placeholder.fill(QColor(128, 128, 128))
        return self._placeholder

    def _on_decoder_decoded(self, images: ImageSet, batch: tuple[int, ...]) -> None:
        if images is not self.images:
            return  # a set replaced meanwhile
        rows = [r for r in (self.row_of(i) for i in batch) if r is not None]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)), [])  # picture and, if unreadable, text


def _warning_pixmap() -> QPixmap:
    """The thumbnail of a file that could not be read: the style's warning sign on grey."""
    pix = QPixmap(ICON, ICON)
    pix.fill(QColor(90, 90, 90))
    icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
    painter = QPainter(pix)
    icon.paint(painter, ICON // 4, ICON // 4, ICON // 2, ICON // 2)
    painter.end()
    return pix
