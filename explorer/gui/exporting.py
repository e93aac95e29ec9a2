"""Every "Export figure…": a file name asked for, checked, and the figure written on the worker.

A view hands over the analysis request of what it shows (the same request the command line builds,
so both write the same bytes); this asks where to write it and runs it as an ExportRequest, a kind
that queues and is never dropped by scrubbing. The status bar says where the figure went, or why it
did not; a failure also shows a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from explorer.core.checkpoint import BUNDLED_MODEL
from explorer.core.errors import ExplorerError
from explorer.core.images import ImageSet
from explorer.core.paths import OutputError, check_output, same_file_as, show
from explorer.gui import dialogs
from explorer.gui.export_requests import default_file_name
from explorer.gui.host import Host
from explorer.gui.messages import ExportDone, ExportRequest, Failure
from explorer.render.files import FORMATS, check_target

FILTERS = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)", "pdf": "PDF document (*.pdf)"}
FOLDER_KEY, FORMAT_KEY = "export/folder", "export/format"
TITLE = "Export figure"


class Exporting(QObject):
    """Turns an export intent into a file dialog, an ExportRequest, and a report of how it went."""

    def __init__(self, host: Host, checkpoint: str | None) -> None:
        super().__init__(host.widget)
        self.host = host
        self.checkpoint = checkpoint  # the file of the model the window started with (None: the bundled one)

    def export(self, figure: object, what: str, images: ImageSet | None = None) -> None:
        """Ask where to write `figure` (an analysis request) of `images` (the open ones when None), then write it."""
        state = self.host.state
        images = images if images is not None else state.images
        if images is None:
            self.host.say(f"{what}: no images open yet")
            return
        path = self._ask_path(figure)
        if not path:
            return
        checkpoint = state.opened.info.checkpoint or self.checkpoint or str(BUNDLED_MODEL)
        try:
            check_target(path)
            check_output(path, {"the model's checkpoint": checkpoint}, flag="export to")
            same = same_file_as(path, images.paths or ())
            if same is not None:
                raise OutputError(f"{show(path)}: is the image {show(same)} of the open set; refusing to overwrite it")
        except (ExplorerError, OutputError) as exc:
            self._report_failure(str(exc))
            return
        request = ExportRequest(images, figure, path, state.opened.label)
        self.host.say(f"Exporting {what} to {path}…")
        self.host.submit(request, self)  # type: ignore[arg-type]

    def _ask_path(self, figure: object) -> str:
        settings = self.host.settings
        fmt = str(settings.value(FORMAT_KEY, "png"))
        fmt = fmt if fmt in FILTERS else "png"
        folder = str(settings.value(FOLDER_KEY, "")) or os.getcwd()
        start = os.path.join(folder, default_file_name(figure, fmt))  # type: ignore[arg-type]
        path, chosen = dialogs.get_save_file_name(self.host.widget, TITLE, start, ";;".join(FILTERS.values()),
                                                  FILTERS[fmt])  # fmt: skip
        if not path:
            return ""
        chosen_fmt = next((f for f, text in FILTERS.items() if text == chosen), fmt)
        if not Path(path).suffix:
            path += f".{chosen_fmt}"
        settings.setValue(FOLDER_KEY, str(Path(path).parent))
        settings.setValue(FORMAT_KEY, FORMATS.get(Path(path).suffix.lower(), chosen_fmt))
        return path

    def on_result(self, result: object) -> None:
        if isinstance(result, ExportDone):
            self.host.say(f"Exported {result.path}")

    def on_failure(self, failure: Failure) -> None:
        self._report_failure(failure.message)

    def on_progress(self, progress: object) -> None:
        pass

    def _report_failure(self, message: str) -> None:
        self.host.fail(message)
        QMessageBox.warning(self.host.widget, TITLE, f"The figure was not written:\n{message}")
