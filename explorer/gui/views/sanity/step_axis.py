"""The cascade plot's x-axis: steps 1..N of the randomization, labelled so that no two labels overlap.

Where every visible step's layer name fits beside its neighbours, the names are drawn; otherwise the step
numbers, every one or, thinned, the multiples of 2, 5, 10, 20, ... (the first that leaves the widest number
room between two labels). The layer of a step is then in the plot's hover text. Widths are
measured with the axis's own tick font, which is set explicitly so that measuring and drawing agree.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QApplication

GAP = 8  # pixels: the least room between two labels


def strides() -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to 10**7: every how many steps a label may go."""
    return [m * 10**e for e in range(8) for m in (1, 2, 5)]


class StepAxis(pg.AxisItem):
    """A bottom axis whose ticks are the steps 1..len(names) of the cascade (top layer first)."""

    def __init__(self) -> None:
        super().__init__("bottom")
        self.names: tuple[str, ...] = ()
        self.showing_names = False  # what the last layout drew: the layer names, or step numbers
        self.stride = 1  # every how many steps a label is drawn (step numbers only)
        self.setTickFont(QFont(QApplication.font()))

    def set_names(self, names: tuple[str, ...] | list[str]) -> None:
        self.names = tuple(names)
        self.picture = None  # lay the ticks out again
        self.update()

    def metrics(self) -> QFontMetricsF:
        return QFontMetricsF(self.style["tickFont"] or QApplication.font())

    def label_width(self, text: str) -> float:
        return self.metrics().horizontalAdvance(text)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        if not self.names:
            return super().tickValues(minVal, maxVal, size)
        n = len(self.names)
        low, high = max(1, math.ceil(minVal - 1e-9)), min(n, math.floor(maxVal + 1e-9))
        if high < low or size <= 0:
            return [(1.0, [])]
        per_step = size / (maxVal - minVal) if maxVal > minVal else float(size)
        visible = self.names[low - 1 : high]
        if len(visible) == 1 or max(map(self.label_width, visible)) + GAP <= per_step:
            self.showing_names, self.stride = True, 1
            return [(1.0, [float(k) for k in range(low, high + 1)])]
        widest = max(self.label_width(str(k)) for k in (low, high))  # numbers grow with k: the ends are widest
        self.showing_names = False
        self.stride = next((s for s in strides() if s * per_step >= widest + GAP), strides()[-1])
        if self.stride == 1:
            return [(1.0, [float(k) for k in range(low, high + 1)])]
        labelled = [float(k) for k in range(-(-low // self.stride) * self.stride, high + 1, self.stride)]
        return [(float(self.stride), labelled or [float(low)])]  # multiples of the stride, else the first step

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if not self.names:
            return super().tickStrings(values, scale, spacing)
        steps = [round(v) for v in values]
        if self.showing_names:
            return [self.names[k - 1] if 1 <= k <= len(self.names) else "" for k in steps]
        return [str(k) for k in steps]
