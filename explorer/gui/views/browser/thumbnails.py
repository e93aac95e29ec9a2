"""A lazy list model over an ImageSet: thumbnails (each picture whole) decoded on demand, predictions filled in
as they arrive; a verdict (right or wrong) only where the image's label is one of the model's classes.

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
from explorer.core.labels import class_map
from explorer.core.model_meta import default_classes
from explorer.gui.views.browser.whole_picture import whole_picture

ICON = 64
DECODE_BATCH = 64  # thumbnails decoded per background job
INDEX_ROLE = Qt.ItemDataRole.UserRole + 1
OUTCOMES = ("all", "right", "wrong")
UNKNOWN, UNREADABLE = -1, -2  # predicted values: not predicted yet; the file could not be read (never predicted)
_RIGHT, _WRONG = QColor(30, 130, 60), QColor(200, 40, 40)


def model_labels(images: ImageSet, classes: Sequence[str]) -> np.ndarray:
    """The true labels as indices into the model's `classes` (-1 where the class is unknown or not one of them):
    matched by name as explorer.core.labels matches them, by position where the model's classes are unnamed."""
    named = tuple(classes) != default_classes(len(classes))
    lookup = np.append(class_map(classes, images.classes, named), -1)
    known = (images.labels >= 0) & (images.labels < len(images.classes))
    return lookup[np.where(known, images.labels, len(images.classes))]


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


@dataclass(frozen=True, eq=False)
class ThumbnailSource:
    """What the thumbnails of one set show: `images` (as the model sees them) whole, from their files or from
    `pictures` (the same set as opened; None: `images`). Compared by identity: a new one makes the old stale."""

    images: ImageSet
    pictures: ImageSet | None = None

    def ready(self, index: int) -> np.ndarray | None:
        """Image `index`'s whole picture if it needs no file read (None: it must be decoded in the background)."""
        if self.images.paths is not None:
            return None
        shown = self.pictures if self.pictures is not None and len(self.pictures) == len(self.images) else self.images
        return shown.image(index) if shown.is_decoded(index) else None

    def decode(self, batch: Sequence[int]) -> dict[int, np.ndarray]:
        """The whole pictures of `batch` (on the decoder's thread). The model's pictures are decoded first: the
        predictions need them, and a file that cannot be read is recorded there (it gets no picture here)."""
        self.images.images(list(batch))
        failed = self.images.failures
        return {i: whole_picture(self.images, self.pictures, i, ICON) for i in batch if i not in failed}


class ThumbnailDecoder(QObject):
    """Decodes the thumbnails asked for on one background thread, a batch at a time; `decoded` reports them."""

    decoded = Signal(object, object, object)  # the ThumbnailSource, the batch, {index: uint8 [h, w, 3]}

    def __init__(self) -> None:
        super().__init__()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="thumbnails")
        self._source: ThumbnailSource | None = None
        self._pending: dict[int, None] = {}  # insertion-ordered: the first asked is decoded first
        self._busy = False
        self._closed = False
        self.decoded.connect(self._on_decoded)

    def want(self, source: ThumbnailSource, index: int) -> None:
        if self._closed:
            return
        if source is not self._source:
            self._source, self._pending = source, {}
        self._pending[index] = None
        if not self._busy:
            self._submit()

    def close(self) -> None:
        """Drop what waits; a batch being decoded finishes on its own and is ignored."""
        self._closed = True
        self._pending = {}
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self) -> None:
        source = self._source
        if source is None or not self._pending or self._closed:
            return
        batch = tuple(list(self._pending)[:DECODE_BATCH])
        for i in batch:
            del self._pending[i]
        self._busy = True
        future: Future[dict[int, np.ndarray]] = self._pool.submit(source.decode, batch)
        # Runs on the pool's thread; the signal is queued to this object's (the GUI) thread.
        future.add_done_callback(lambda f: self._report(source, batch, f))

    def _report(self, source: ThumbnailSource, batch: tuple[int, ...], future: Future[dict[int, np.ndarray]]) -> None:
        if self._closed:
            return
        pictures = {} if future.cancelled() or future.exception() is not None else future.result()
        with contextlib.suppress(RuntimeError):  # the window, and this object, may be gone by now
            self.decoded.emit(source, batch, pictures)

    def _on_decoded(self, _source: ThumbnailSource, _batch: tuple[int, ...], _pictures: object) -> None:
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
        self._source: ThumbnailSource | None = None
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._cache_size = cache_size
        self._placeholder: QPixmap | None = None
        self._warning: QPixmap | None = None
        self.decoder = ThumbnailDecoder()
        self.decoder.decoded.connect(self._on_decoder_decoded)

    def close(self) -> None:
        """Stop decoding in the background (the window is closing)."""
        self.decoder.close()

    def set_images(self, images: ImageSet, pictures: ImageSet | None = None) -> None:
        """Show `images`, each thumbnail the whole picture (see ThumbnailSource; `pictures`: the set as opened)."""
        self.beginResetModel()
        self.images = images
        self._source = ThumbnailSource(images, pictures)
        self.truth = model_labels(images, self.classes)
        self.predicted = np.full(len(images), UNKNOWN, np.int64)
        self.reasons: dict[int, str] = {}  # why each unreadable image could not be read
        self._cache.clear()
        self.rows = np.flatnonzero(self.filter.accept(self.truth, self.predicted))
        self.endResetModel()

    def set_pictures(self, pictures: ImageSet | None) -> None:
        """The set as opened, whose pictures the thumbnails show where the images have no files."""
        if self.images is None or self._source is None or pictures is self._source.pictures:
            return
        self._source = ThumbnailSource(self.images, pictures)
        self._cache.clear()
        if len(self.rows):
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1), [Qt.ItemDataRole.DecorationRole])

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
        if self.reason(i):
            self._warning = self._warning or _warning_pixmap()
            return self._warning
        pix = self._cache.get(i)
        if pix is not None:
            self._cache.move_to_end(i)
            return pix
        assert self._source is not None
        rgb = self._source.ready(i)
        if rgb is None:
            self.decoder.want(self._source, i)
            return self._grey()
        return self._keep(i, rgb)

    def _keep(self, i: int, rgb: np.ndarray) -> QPixmap:
        """Image `i`'s thumbnail from its whole picture (uint8 [h, w, 3]), kept in the cache."""
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        pix = QPixmap.fromImage(qimage).scaled(
            ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
        self._cache[i] = pix
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return pix

    def _grey(self) -> QPixmap:
        if self._placeholder is None:
            self._placeholder = QPixmap(ICON, ICON)
            self._placeholder.fill(QColor(128, 128, 128))
        return self._placeholder

    def _on_decoder_decoded(
        self, source: ThumbnailSource, batch: tuple[int, ...], pictures: dict[int, np.ndarray]
    ) -> None:
        if source is not self._source:
            return  # a set replaced meanwhile
        for i, rgb in pictures.items():
            self._keep(i, rgb)
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
