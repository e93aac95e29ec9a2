"""Wires every "Export figure…" action (the panes' buttons and File > Export figure) to the worker.

Each export asks for a file name, builds the view's FigureRequest (explorer.gui.export_requests,
the same one the command line builds), and runs compute_figure + export_figure on the worker as
an ExportRequest, a kind of its own that queues and is never dropped by scrubbing. The status bar
says where the figure went, or why it did not; a failure also shows a warning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from explorer.core.checkpoint import BUNDLED_MODEL
from explorer.core.paths import OutputError, check_output, same_file_as, show
from explorer.export.backprop_figure import BackpropRequest
from explorer.export.errors import ExportError
from explorer.export.experiments import ExperimentRequest
from explorer.export.maximize_figure import MaximizeRequest
from explorer.export.request import FigureRequest
from explorer.export.write import FORMATS, check_target
from explorer.gui import dialogs, image_choice
from explorer.gui.export_requests import VIEW_KINDS, default_file_name, figure_request
from explorer.gui.messages import ExportDone, ExportRequest, Failure

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow

FILTERS = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)", "pdf": "PDF document (*.pdf)"}
FOLDER_KEY, FORMAT_KEY = "export/folder", "export/format"
TITLE = "Export figure"


class ExportWiring(QObject):
    """Turns an export intent into a file dialog, an ExportRequest, and a report of how it went."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.asked: dict[int, ExportRequest] = {}  # exports sent to the worker and not yet answered
        window.controller.result_ready.connect(self._on_controller_result_ready)
        window.controller.failed.connect(self._on_controller_failed)
        for kind, pane in (
            ("maps", window.activations), ("projections", window.projection),
            ("feature", window.across), ("topk", window.top_images),
        ):  # fmt: skip
            pane.export_requested.connect(lambda *_checked, kind=kind: self.export(kind))

    def handlers(self) -> dict[str, object]:
        """The File > Export figure actions, by key: export_maps, export_projections, ..."""
        return {f"export_{kind}": (lambda *_checked, kind=kind: self.export(kind)) for kind in VIEW_KINDS}

    def request_for(self, kind: str) -> ExportRequest | None:
        """The worker request for the view `kind` now, without a path yet; None (and a message) if there is none."""
        w = self.window
        if w.images is None:
            return None
        top_k, k, page = None, 9, ()
        if kind == "topk":
            scan = w.window_state.scan  # the shown scan, of the open model
            if scan is None or scan.source_key != w.images.source_key or w.state.layer not in scan.results:
                w.status.showMessage("Top images: no scan of these images yet; press Find top images first")
                return None
            top_k, k = scan.results[w.state.layer], scan.k
        if kind == "feature":
            page = w.browser.page(w.state.image)
            if not page:
                w.status.showMessage("Feature across images: the browser's filter shows no images")
                return None
            try:  # the page, the whole filter, or a range: the exact set the user chose
                chosen = image_choice.ask_images(w, page, w.browser.model.rows, len(w.images))
            except ExportError as exc:
                self._report_failure(str(exc))
                return None
            if chosen is None:
                return None
            page = chosen
        opened = w.window_state.opened
        figure = figure_request(kind, w.state, page=page, k=k, channels=opened.channels[w.state.layer])
        return ExportRequest(w.images, figure, "", opened.label, top_k)

    def export(self, kind: str) -> None:
        """Ask where to write the view's figure, then write it on the worker."""
        request = self.request_for(kind)
        if request is not None:
            self.export_request(request, VIEW_KINDS[kind].lower())

    def export_request(self, request: ExportRequest, what: str) -> None:
        """Ask where to write `request`'s figure (its path is ignored), then write it on the worker."""
        path = self._ask_path(request.figure)
        if not path:
            return
        try:
            check_target(path, request.dpi)
            check_output(
                path, {"the model's checkpoint": self.window.checkpoint or str(BUNDLED_MODEL)}, flag="export to"
            )
            same = same_file_as(path, request.images.paths or ())
            if same is not None:
                raise OutputError(f"{show(path)}: is the image {show(same)} of the open set; refusing to overwrite it")
        except (ExportError, OutputError) as exc:
            self._report_failure(str(exc))
            return
        request = ExportRequest(request.images, request.figure, path, request.model_name, request.top_k, request.dpi)
        self.asked[request.id] = request
        self.window.status.showMessage(f"Exporting {what} to {path}…")
        self.window.controller.submit(request)

    def _ask_path(self, figure: FigureRequest | BackpropRequest | MaximizeRequest | ExperimentRequest) -> str:
        settings = self.window.settings
        fmt = str(settings.value(FORMAT_KEY, "png"))
        fmt = fmt if fmt in FILTERS else "png"
        folder = str(settings.value(FOLDER_KEY, "")) or os.getcwd()
        start = os.path.join(folder, default_file_name(figure, fmt))
        path, chosen = dialogs.get_save_file_name(self.window, TITLE, start, ";;".join(FILTERS.values()), FILTERS[fmt])
        if not path:
            return ""
        chosen_fmt = next((f for f, text in FILTERS.items() if text == chosen), fmt)
        if not Path(path).suffix:
            path += f".{chosen_fmt}"
        settings.setValue(FOLDER_KEY, str(Path(path).parent))
        settings.setValue(FORMAT_KEY, FORMATS.get(Path(path).suffix.lower(), chosen_fmt))
        return path

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, ExportDone) and self.asked.pop(result.request_id, None) is not None:
            self.window.status.showMessage(f"Exported {result.path}")

    def _on_controller_failed(self, failure: Failure) -> None:
        if self.asked.pop(failure.request_id, None) is not None:
            self._report_failure(failure.message)

    def _report_failure(self, message: str) -> None:
        self.window.status.show_failure(message)
        QMessageBox.warning(self.window, TITLE, f"The figure was not written:\n{message}")
