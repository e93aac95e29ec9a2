"""How the main window opens images: a source on the worker, folders and files from dialogs or dropped, splits."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent

from explorer.core.datasets import IMAGE_EXTENSIONS
from explorer.core.images import ImageSet
from explorer.gui import dialogs
from explorer.gui.messages import LoadRequest, PageRequest, PredictRequest, ViewRequest, next_request_id


class ImageSourcesMixin:
    """The main window's image sources; mixed into MainWindow, whose state and panes it uses."""

    def open_source(
        self, source: str | tuple[str, ...], split: str | None = None, *, fallback: bool = False, download: bool = False
    ) -> None:
        """Open a source (cifar10, probes, a folder, or a tuple of files) on the worker."""
        request = LoadRequest(source, split or self.split, download=download, fallback=fallback)
        self._loads[request.id] = request
        self.controller.submit(request)

    def download_cifar10(self) -> None:
        self.open_source("cifar10", download=True)

    def _show_images(self, images: ImageSet, source: str | tuple[str, ...], notice: str) -> None:
        self._loads.clear()
        self.images = images
        self.source = source
        if isinstance(source, str) and source != "probes":
            self._update(source=source)
        self.controller.cancel(PredictRequest)
        self.controller.cancel(ViewRequest)
        self.controller.cancel(PageRequest)
        self.shown_id = self.shown_page_id = next_request_id()  # whatever was asked before this set is stale
        self._drawn.clear()
        self.notice.show_notice(
            f"{notice.rstrip('.')}. Showing the built-in probe patterns meanwhile." if notice else ""
        )
        self.browser.set_images(images, self.split)
        self.status.show_data(images.name, len(images))
        self.window_state.set_images(images)  # the Top images wiring follows it
        self.predictions.show_unreadable()
        image = self.state.image if self.state.image < len(images) else 0
        self._update(image=image)
        self.browser.show_current(image)
        self.request_view()
        self.predictions.predict_from(0)

    def _on_browser_split_selected(self, split: str) -> None:
        self.split = split
        self._update(split=split)
        if isinstance(self.source, str) and self.source != "probes":
            self.open_source(self.source, split)

    def _on_open_folder_triggered(self) -> None:
        folder = dialogs.get_existing_directory(self, "Open a folder of images")
        if folder:
            self.open_source(folder)

    def _on_open_files_triggered(self) -> None:
        pattern = "Images (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS) + ")"
        files = dialogs.get_open_file_names(self, "Open images", pattern)
        if files:
            self.open_source(tuple(files))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if len(paths) == 1 and os.path.isdir(paths[0]):
            self.open_source(paths[0])
        elif paths:
            self.open_source(tuple(p for p in paths if os.path.isfile(p)))
        event.acceptProposedAction()


def source_name(source: str | tuple[str, ...]) -> str:
    """How the status bar names a source."""
    if isinstance(source, tuple):
        return f"{len(source)} files"
    return {"cifar10": "CIFAR-10", "probes": "probe patterns"}.get(source, Path(source).name or source)
