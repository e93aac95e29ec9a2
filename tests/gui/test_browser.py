"""The image browser: lazy thumbnails, filters on true and predicted class and right/wrong, jumping."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListView

from explorer.core.datasets import files_dataset
from explorer.core.model import CLASSES
from explorer.core.projection import predict
from explorer.gui.views.browser.thumbnails import ThumbnailFilter, ThumbnailModel


def _choose(box, value) -> None:
    box.setCurrentIndex(box.findData(value))


def test_filters_by_true_class_predicted_class_and_outcome(window, model, images):
    predicted = predict(model, images.tensor(slice(None))).argmax(1).numpy()
    np.testing.assert_array_equal(window.views["images"].pane.model.predicted, predicted)
    b = window.views["images"].pane
    label = int(images.labels[3])
    _choose(b.true_class, label)
    np.testing.assert_array_equal(b.model.rows, np.flatnonzero(images.labels == label))
    _choose(b.true_class, -1)
    common = int(np.bincount(predicted).argmax())
    _choose(b.predicted_class, common)
    np.testing.assert_array_equal(b.model.rows, np.flatnonzero(predicted == common))
    _choose(b.predicted_class, -1)
    _choose(b.outcome, "wrong")
    np.testing.assert_array_equal(b.model.rows, np.flatnonzero(predicted != images.labels))
    _choose(b.outcome, "right")
    np.testing.assert_array_equal(b.model.rows, np.flatnonzero(predicted == images.labels))
    assert b.count.text().startswith(f"showing {len(b.model.rows)} of 40")


def test_next_image_follows_the_filter(window, images, qtbot):
    label = int(images.labels[0])
    _choose(window.views["images"].pane.true_class, label)
    rows = np.flatnonzero(images.labels == label)
    window.menu_actions["next_image"].trigger()  # Navigate > Next image (PgDown)
    qtbot.waitUntil(lambda: window.state.shown.index == rows[1] and window.controller.running is None)
    qtbot.waitUntil(
        lambda: (
            window.views["feature_across_images"].shown is not None
            and window.views["feature_across_images"].shown.page == tuple(rows[:16])
        )
    )


def test_jump_to_an_index(window, qtbot):
    window.views["images"].pane.jump.setValue(17)
    qtbot.waitUntil(lambda: window.state.shown.index == 17)
    assert window.views["images"].pane.list.currentIndex().row() == 17


def test_items_show_label_prediction_and_verdict(window, images):
    m = window.views["images"].pane.model
    text = m.index(2).data()
    truth, pred = CLASSES[images.labels[2]], CLASSES[m.predicted[2]]
    assert text == (f"{truth}\n✓ right" if truth == pred else f"{truth}\n→ {pred} ✗")
    assert m.index(2).data(Qt.ItemDataRole.DecorationRole).width() == 64


def test_predictions_stream_into_a_prediction_filter(images, qtbot):
    m = ThumbnailModel(CLASSES)
    m.set_images(images)
    m.set_filter(ThumbnailFilter(predicted_class=2))
    assert m.rowCount() == 0
    with qtbot.waitSignal(m.rowsInserted):
        m.set_predictions(10, np.array([2, 5, 2]))
    np.testing.assert_array_equal(m.rows, [10, 12])
    m.set_predictions(0, np.full(10, 2))
    np.testing.assert_array_equal(m.rows, [*range(10), 10, 12])


def test_thumbnails_decode_only_what_is_shown(qtbot, tmp_path):
    # 50,000 files that do not exist: each decode attempt is recorded as a failure, so we can count them.
    big = files_dataset([str(tmp_path / f"{i}.png") for i in range(50_000)])
    m = ThumbnailModel(CLASSES, cache_size=100)
    m.set_images(big)
    view = QListView()
    qtbot.addWidget(view)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setUniformItemSizes(True)
    view.setModel(m)
    view.resize(300, 400)
    view.show()
    qtbot.waitExposed(view)
    view.scrollToBottom()
    qtbot.waitUntil(lambda: len(big.failures) > 0)  # decoded on the thumbnail thread, never the GUI's
    qtbot.wait(50)
    assert 0 < len(big.failures) < 500
    assert len(m._cache) <= 100
    m.close()
