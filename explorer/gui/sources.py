"""Where the window's images come from: a source opened on the worker (CIFAR-10, the probes, a folder, some
files), from the menus, a dialog or a drop; the notice that offers a download when CIFAR-10 is missing."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject

from explorer.core.datasets import IMAGE_EXTENSIONS
from explorer.core.images import ImageSet
from explorer.gui import dialogs
from explorer.gui.host import Host
from explorer.gui.messages import DataLoaded, Failure, LoadRequest
from explorer.gui.notice import NoticeBar


def source_name(source: str | tuple[str, ...]) -> str:
    """How the status bar names a source."""
    if isinstance(source, tuple):
        return f"{len(source)} files"
    return {"cifar10": "CIFAR-10", "probes": "probe patterns"}.get(source, Path(source).name or source)


class ImageSources(QObject):
    """Opens sources on the worker and hands what opened to the state."""

    def __init__(self, host: Host) -> None:
        super().__init__(host.widget)
        self.host = host
        self.state = host.state
        self.notice = NoticeBar()  # why CIFAR-10 did not open, with offers to download it or open a folder
        self.notice.download_requested.connect(self.download_cifar10)
        self.notice.open_folder_requested.connect(self.open_folder)
        self._loads: dict[int, LoadRequest] = {}  # sources asked for and not yet answered

    def handlers(self) -> dict[str, object]:
        return {
            "open_folder": self.open_folder,
            "open_files": self.open_files,
            "download_cifar10": self.download_cifar10,
            "open_probes": lambda: self.open_source("probes"),
        }

    def open_source(
        self, source: str | tuple[str, ...], split: str | None = None, *, fallback: bool = False, download: bool = False
    ) -> None:
        """Open a source (cifar10, probes, a folder, or a tuple of files) on the worker."""
        request = LoadRequest(source, split or self.state.split, download=download, fallback=fallback)
        self._loads[request.id] = request
        self.host.submit(request, self)  # type: ignore[arg-type]

    def open_split(self, split: str) -> None:
        """The same source's other split (train or test), where it has splits."""
        self.state.set_split(split)
        if isinstance(self.state.source, str) and self.state.source != "probes":
            self.open_source(self.state.source, split)

    def download_cifar10(self) -> None:
        self.open_source("cifar10", download=True)

    def open_folder(self) -> None:
        folder = dialogs.get_existing_directory(self.host.widget, "Open a folder of images")
        if folder:
            self.open_source(folder)

    def open_files(self) -> None:
        pattern = "Images (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS) + ")"
        files = dialogs.get_open_file_names(self.host.widget, "Open images", pattern)
        if files:
            self.open_source(tuple(files))

    def open_dropped(self, paths: list[str]) -> None:
        if len(paths) == 1 and os.path.isdir(paths[0]):
            self.open_source(paths[0])
        elif paths:
            self.open_source(tuple(p for p in paths if os.path.isfile(p)))

    def show(self, images: ImageSet, source: str | tuple[str, ...], notice: str = "") -> None:
        """Hand `images` to the state (the views follow it)."""
        self._loads.clear()
        self.notice.show_notice(
            f"{notice.rstrip('.')}. Showing the built-in probe patterns meanwhile." if notice else ""
        )
        self.state.set_images(images, source)

    def on_result(self, result: object) -> None:
        if isinstance(result, DataLoaded):
            self.show(result.images, result.source, result.notice)

    def on_failure(self, failure: Failure) -> None:
        self.host.fail(failure.message)
        load = self._loads.pop(failure.request_id, None)
        if load is not None:
            dialogs.explain_load_failure(self.host.widget, load.download, source_name(load.source), failure.message)

    def on_progress(self, progress: object) -> None:
        pass
