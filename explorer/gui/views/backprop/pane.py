"""Backpropagation pane: one conv input element's delta counted on fingers, as the seed counts it.

The pane shows a BackpropFigure (computed on the worker) and emits intent: which element
(layer, input channel, position: a click in the input map) and "export". Scrubbing the output
channel ([ and ] or the wheel over the delta map) only redraws: every channel's deltas and
kernels are in the figure already.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from explorer.analyses.backprop import BackpropFigure, check_lines, finger_grid, number
from explorer.analyses.colours import grey_rgb8, signed_rgb8
from explorer.gui.panes.export_button import export_button
from explorer.gui.panes.pixel_view import PixelView

MARK = (0, 160, 0)
TABLE_TITLES = (
    "kernel k[o, c]",
    "rot180(k): the weight each delta meets",
    "delta at the outputs, around x",
    "delta * rot180(k)",
)


class MarkedView(PixelView):
    """A PixelView with square outlines on chosen pixels."""

    def __init__(self, title: str = "") -> None:
        super().__init__(title)
        self.marks = pg.ScatterPlotItem(pxMode=False, symbol="s", size=1.0, brush=None, pen=pg.mkPen(MARK, width=2))
        self.view_box.addItem(self.marks)

    def set_marks(self, cells: list[tuple[int, int]]) -> None:
        self.marks.setData([c + 0.5 for _, c in cells], [r + 0.5 for r, _ in cells])


def _table(values: list[list[str]], shades: np.ndarray) -> str:
    rgb = signed_rgb8(shades)
    rows = []
    for i, row in enumerate(values):
        cells = "".join(
            f'<td align="center" style="background-color:#{rgb[i, j, 0]:02x}{rgb[i, j, 1]:02x}{rgb[i, j, 2]:02x}">'
            f"{html.escape(text)}</td>"
            for j, text in enumerate(row)
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        '<table cellspacing="0" cellpadding="2" border="1" style="color:black; font-size:8pt">'
        + "".join(rows)
        + "</table>"
    )


class BackpropPane(QWidget):
    element_selected = Signal(str, int, int, int)  # layer, input channel, row, col
    out_channel_changed = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: BackpropFigure | None = None
        self.layer = QComboBox()
        self.channel = QSpinBox()
        self.out_channel = QSpinBox()
        self.position = QLabel("click the input map")
        self.stale = QLabel("stale")
        self.stale.setStyleSheet("color: #b35c00; font-weight: bold")
        self.stale.setToolTip("The counting shown is for an earlier image or element; the new one is on its way")
        self.stale.hide()
        self.row, self.col = 0, 0
        self.views = [PixelView("image"), MarkedView("input"), MarkedView("delta"), MarkedView("full")]
        self.tables = [QLabel() for _ in TABLE_TITLES]
        self.table_titles = [QLabel(t) for t in TABLE_TITLES]
        self.checks = QLabel()
        self.checks.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.checks.setStyleSheet("font-family: monospace")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.export = export_button("Export this view as a figure (PNG, SVG or PDF)")

        controls = QGridLayout()  # two rows, so the pane fits half of a small window's width
        for i, (text, widget) in enumerate(
            (("layer", self.layer), ("input channel", self.channel), ("position", self.position),
             ("output channel ([ ])", self.out_channel))
        ):  # fmt: skip
            r, c = divmod(i, 2)
            controls.addWidget(QLabel(text), r, 2 * c)
            controls.addWidget(widget, r, 2 * c + 1)
        controls.setColumnStretch(4, 1)
        controls.addWidget(self.stale, 0, 5)
        controls.addWidget(self.export, 1, 5)
        maps = QHBoxLayout()
        for view in self.views:
            view.setMinimumSize(96, 110)
            view.setMaximumHeight(240)
            maps.addWidget(view, 1)
        tables = QGridLayout()  # two by two: a 5x5 table of numbers wants about 300 pixels
        for j, (title, table) in enumerate(zip(self.table_titles, self.tables, strict=True)):
            r, c = divmod(j, 2)
            tables.addWidget(title, 2 * r, c)
            tables.addWidget(table, 2 * r + 1, c, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        tables.setColumnStretch(2, 1)
        inner = QWidget()
        box = QVBoxLayout(inner)
        box.addLayout(controls)
        box.addLayout(maps)
        box.addLayout(tables)
        box.addWidget(self.checks)
        box.addWidget(self.caption)
        box.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.layer.currentTextChanged.connect(lambda _text: self._emit_element())
        self.channel.valueChanged.connect(lambda _v: self._emit_element())
        self.out_channel.valueChanged.connect(self._on_out_channel_value_changed)
        self.views[1].clicked.connect(self._on_input_clicked)
        self.views[2].wheel_scrolled.connect(lambda steps: self.out_channel.setValue(self.out_channel.value() + steps))
        self.export.clicked.connect(self.export_requested)
        for key, step in (("]", 1), ("[", -1)):
            shortcut = QShortcut(QKeySequence(key), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda step=step: self.out_channel.setValue(self.out_channel.value() + step))

    # Intent --------------------------------------------------------------------------------------

    def set_layers(self, layers: tuple[str, ...], current: str) -> None:
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(list(layers))
        self.layer.setCurrentText(current)
        self.layer.blockSignals(False)

    def select(self, layer: str, channel: int, row: int, col: int) -> None:
        """Choose an element without emitting (the wiring asks for it itself)."""
        for w in (self.layer, self.channel):
            w.blockSignals(True)
        self.layer.setCurrentText(layer)
        self.channel.setMaximum(max(self.channel.maximum(), channel))
        self.channel.setValue(channel)
        for w in (self.layer, self.channel):
            w.blockSignals(False)
        self.row, self.col = row, col

    def element(self) -> tuple[str, int, int, int]:
        return self.layer.currentText(), self.channel.value(), self.row, self.col

    def _emit_element(self) -> None:
        self.element_selected.emit(*self.element())

    def _on_input_clicked(self, x: float, y: float) -> None:
        if self.figure is None:
            return
        h, w = self.figure.explanation.input_map.shape
        if 0 <= x < w and 0 <= y < h:
            self.row, self.col = int(y), int(x)
            self._emit_element()

    def _on_out_channel_value_changed(self, value: int) -> None:
        if self.figure is not None and value != self.figure.out_channel:
            self.figure = self.figure.with_out_channel(value)
            self._draw_channel()
        self.out_channel_changed.emit(value)

    # Showing -------------------------------------------------------------------------------------

    def show_figure(self, figure: BackpropFigure) -> None:
        """Show a new counting; the output channel stays where the user left it when it still exists."""
        e = figure.explanation
        if self.figure is not None and self.figure.explanation.layer == e.layer:
            figure = figure.with_out_channel(self.out_channel.value())
        self.figure = figure
        self.select(e.layer, e.channel, e.row, e.col)
        self.channel.blockSignals(True)
        self.channel.setMaximum(e.input_channels - 1)
        self.channel.blockSignals(False)
        self.out_channel.blockSignals(True)
        self.out_channel.setMaximum(e.delta_out.shape[0] - 1)
        self.out_channel.setValue(figure.out_channel)
        self.out_channel.blockSignals(False)
        self.position.setText(f"({e.row}, {e.col}) of {e.input_map.shape[0]}x{e.input_map.shape[1]}")
        self.views[0].set_title(figure.image_label)
        self.views[0].set_image(figure.image.astype(np.float32) / 255)
        self.views[1].set_title(f"{e.layer} input, c{e.channel}")
        self.views[1].setToolTip("The layer's input, this channel: click an element to count its delta")
        self.views[1].set_image(grey_rgb8(e.input_map).astype(np.float32) / 255)
        self.views[1].set_marks([(e.row, e.col)])
        self.views[3].set_title(f"dC/dx, c{e.channel}")
        self.views[3].setToolTip(f"dC/d(input), channel {e.channel}: conv2(delta, rot180(k), 'full') over all outputs")
        self.views[3].set_image(signed_rgb8(e.input_delta).astype(np.float32) / 255)
        self.views[3].set_marks([(e.row, e.col)])
        self.caption.setText(figure.caption)
        self._draw_channel()

    def _draw_channel(self) -> None:
        assert self.figure is not None
        f, e, o = self.figure, self.figure.explanation, self.figure.out_channel
        fed = [(t.out_row, t.out_col) for t in e.channel_terms(o)]
        self.views[2].set_title(f"delta, output c{o}")
        self.views[2].setToolTip(f"dC/dz at {e.layer}'s output, channel {o}; outlined: the {len(fed)} outputs x fed")
        self.views[2].set_image(signed_rgb8(e.delta_out[o]).astype(np.float32) / 255)
        self.views[2].set_marks(fed)
        k = e.kernel[o]
        grid = finger_grid(e, o)
        deltas = np.array([[c[0] if c else 0.0 for c in row] for row in grid])
        products = np.array([[c[0] * c[1] if c else 0.0 for c in row] for row in grid])
        contents = (
            ([[number(v) for v in r] for r in k], k),
            ([[number(v) for v in r] for r in k[::-1, ::-1]], k[::-1, ::-1]),
            ([[number(c[0]) if c else "pad" for c in row] for row in grid], deltas),
            ([[number(c[0] * c[1]) if c else "0" for c in row] for row in grid], products),
        )
        for label, (values, shades) in zip(self.tables, contents, strict=True):
            label.setText(_table(values, shades))
        self.table_titles[0].setText(f"kernel k[{o}, {e.channel}]")
        self.table_titles[3].setText(f"delta * rot180(k): sum = {number(e.channel_sum(o))}")
        self.checks.setText("\n".join(check_lines(f)))

    def set_stale(self, stale: bool) -> None:
        """Mark the counting shown as one for an earlier image or element (or unmark it)."""
        self.stale.setVisible(stale)

    def show_message(self, text: str) -> None:
        self.checks.setText(text)
