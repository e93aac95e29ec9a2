"""Image browser: thumbnails of the current split with filters, jump-to-index, and a split choice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSize, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QListView, QSpinBox, QVBoxLayout, QWidget

from explorer.core.datasets import SPLITS, splits_of
from explorer.core.images import ImageSet
from explorer.gui.views.browser.thumbnails import ICON, INDEX_ROLE, OUTCOMES, UNKNOWN, ThumbnailFilter, ThumbnailModel


class BrowserPane(QWidget):
    image_selected = Signal(int)
    split_selected = Signal(str)
    page_changed = Signal()  # the filter or the predictions changed which images a page holds

    def __init__(self, classes: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ThumbnailModel(classes)
        self.split = QComboBox()
        self.split.addItems(SPLITS)
        self.true_class = _class_combo(classes)
        self.predicted_class = _class_combo(classes)
        self.outcome = _class_combo(())
        self.outcome.clear()
        for o in OUTCOMES:
            self.outcome.addItem({"all": "right and wrong", "right": "right only", "wrong": "wrong only"}[o], o)
        self.jump = QSpinBox()
        self.jump.setKeyboardTracking(False)
        self.count = QLabel()
        self.count.setWordWrap(True)
        self.list = QListView()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setUniformItemSizes(True)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setGridSize(QSize(ICON + 36, ICON + 40))
        self.list.setWordWrap(True)
        self.list.setLayoutMode(QListView.LayoutMode.Batched)
        self.list.setBatchSize(2000)
        self.list.setModel(self.model)

        form = QFormLayout()
        form.addRow("split", self.split)
        form.addRow("true class", self.true_class)
        form.addRow("predicted", self.predicted_class)
        form.addRow("prediction", self.outcome)
        form.addRow("go to #", self.jump)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.count)
        layout.addWidget(self.list, 1)

        for box in (self.true_class, self.predicted_class, self.outcome):
            box.currentIndexChanged.connect(self._on_filter_changed)
        self.split.textActivated.connect(self.split_selected)
        self.jump.valueChanged.connect(self.image_selected)
        self.list.selectionModel().currentChanged.connect(self._on_list_current_changed)
        for signal in (self.model.rowsInserted, self.model.modelReset, self.model.dataChanged):
            signal.connect(self._update_count)
        self._syncing = False  # the list's current row is being set to mirror the window: emit no intent
        self._reveal: int | None = None  # the image to keep in sight while the list lays itself out in batches
        self.list.verticalScrollBar().rangeChanged.connect(self._on_list_range_changed)
        self.list.verticalScrollBar().actionTriggered.connect(self._on_list_scrolled_by_hand)

    def set_classes(self, classes: Sequence[str]) -> None:
        """The model's class names, for the captions and the class filters (which go back to "any")."""
        self.model.classes = tuple(classes)
        for box in (self.true_class, self.predicted_class):
            box.blockSignals(True)
            box.clear()
            _fill(box, classes)
            box.blockSignals(False)
        self._on_filter_changed(0)

    def set_images(self, images: ImageSet, split: str) -> None:
        self.model.set_images(images)
        self.jump.blockSignals(True)
        self.jump.setRange(0, max(len(images) - 1, 0))
        self.jump.blockSignals(False)
        self._show_splits(images, split)
        self._update_count()

    def _show_splits(self, images: ImageSet, split: str) -> None:
        """The split choice as the open source offers it: disabled, saying why, where there is nothing to choose."""
        splits = splits_of(images)
        self.split.blockSignals(True)
        self.split.clear()
        self.split.addItems(splits or ("none",))
        self.split.setCurrentText(split)
        self.split.blockSignals(False)
        self.split.setEnabled(len(splits) > 1)
        if not splits:
            tip = f"{images.name} has no train and test splits (a folder has them as train/ and test/ folders)"
        elif len(splits) == 1:
            tip = f"{images.name}: the source has a {splits[0]}/ folder only"
        else:
            tip = "Open the other split of the same source"
        self.split.setToolTip(tip)

    def set_predictions(self, start: int, predicted: np.ndarray, unreadable: Sequence[tuple[int, str]] = ()) -> None:
        before = len(self.model.rows)
        self.model.set_predictions(start, predicted, unreadable)
        if self.model.filter.uses_predictions() and len(self.model.rows) != before:
            self.page_changed.emit()

    def show_current(self, image: int) -> None:
        """Select and reveal `image` in the list (clearing the selection when the filter hides it)."""
        self.jump.blockSignals(True)
        self.jump.setValue(image)
        self.jump.blockSignals(False)
        row = self.model.row_of(image)
        sel = self.list.selectionModel()
        # Not blockSignals: the list repaints the rows it un-highlights only when it hears of the change.
        self._syncing = True
        try:
            if row is None:
                sel.clear()
                self._reveal = None
            else:
                index = self.model.index(row)
                sel.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
                self._reveal = image
                self.list.scrollTo(index)
        finally:
            self._syncing = False

    def step(self, image: int, delta: int) -> int | None:
        """The image `delta` rows from `image` in the filtered list, or None at the ends or when empty."""
        rows = self.model.rows
        if not len(rows):
            return None
        row = self.model.row_of(image)
        target = (
            (self.model.nearest_row(image) if delta > 0 else self.model.nearest_row(image) - 1)
            if row is None
            else row + delta
        )
        return int(rows[target]) if 0 <= target < len(rows) else None

    def _on_filter_changed(self, _index: int) -> None:
        self.model.set_filter(
            ThumbnailFilter(
                self.true_class.currentData(), self.predicted_class.currentData(), self.outcome.currentData()
            )
        )
        self.page_changed.emit()

    def _on_list_range_changed(self, _low: int, _high: int) -> None:
        row = self.model.row_of(self._reveal) if self._reveal is not None else None
        if row is not None:
            self.list.scrollTo(self.model.index(row))

    def _on_list_scrolled_by_hand(self, _action: int) -> None:
        self._reveal = None

    def _on_list_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._syncing:
            self.image_selected.emit(int(current.data(INDEX_ROLE)))

    def _update_count(self) -> None:
        m = self.model
        total = len(m.predicted)
        known = int((m.predicted != UNKNOWN).sum())
        text = f"showing {len(m.rows):,} of {total:,}"
        if known < total:
            text += f" · predicted {known:,} so far"
        elif total:
            right = (m.truth >= 0) & (m.truth == m.predicted)
            labelled = int(((m.truth >= 0) & (m.predicted >= 0)).sum())  # unreadable files are left out
            if labelled:
                text += f" · {100 * right.sum() / labelled:.1f}% right"
        self.count.setText(text)


def _class_combo(classes: Sequence[str]) -> QComboBox:
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    _fill(box, classes)
    return box


def _fill(box: QComboBox, classes: Sequence[str]) -> None:
    box.addItem("any", -1)
    for i, name in enumerate(classes):
        box.addItem(name, i)
