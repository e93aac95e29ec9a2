"""File dialogs that cannot hang the window, and the plain-words dialogs for failures.

Qt's own file dialog asks its icon provider for each file's type, and the stock provider sniffs
a file's content to guess its MIME type: typing `/proc/` made it read `/proc/kmsg` on the GUI
thread, which blocks for good. These dialogs use a provider that answers from the name alone,
never resolve symlinks, and refuse targets on the special file systems (/proc, /sys, /dev).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QFileInfo
from PySide6.QtGui import QAbstractFileIconProvider, QIcon
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

SPECIAL_ROOTS = ("/proc", "/sys", "/dev")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


class NameOnlyIconProvider(QAbstractFileIconProvider):
    """Icons and type names from the file name alone: never opens or reads a file."""

    def icon(self, what: object) -> QIcon:  # type: ignore[override]
        if isinstance(what, QFileInfo):
            kind = (
                QAbstractFileIconProvider.IconType.Folder if what.isDir() else QAbstractFileIconProvider.IconType.File
            )
            return super().icon(kind)
        return super().icon(what)  # type: ignore[arg-type]

    def type(self, info: QFileInfo) -> str:
        if info.isDir():
            return "Folder"
        suffix = info.suffix()
        return f"{suffix.upper()} file" if suffix else "File"


def special_root(path: str) -> str | None:
    """The special file system `path` lies on (/proc, /sys or /dev), or None."""
    full = os.path.abspath(path)
    return next((root for root in SPECIAL_ROOTS if full == root or full.startswith(root + "/")), None)


def file_dialog(parent: QWidget | None, title: str, directory: str, mode: QFileDialog.FileMode) -> QFileDialog:
    """A Qt file dialog that never reads a file's content on the GUI thread."""
    dialog = QFileDialog(parent, title, directory)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog)  # the icon provider only applies to Qt's own
    dialog.setOption(QFileDialog.Option.DontResolveSymlinks)
    dialog.setIconProvider(NameOnlyIconProvider(dialog))
    dialog.setFileMode(mode)
    return dialog


# How a built dialog is run: tests replace this to answer without a modal loop.
run_dialog: Callable[[QFileDialog], bool] = lambda dialog: bool(dialog.exec())  # noqa: E731


def _chosen(parent: QWidget | None, dialog: QFileDialog) -> list[str]:
    if not run_dialog(dialog):
        return []
    paths = dialog.selectedFiles()
    refused = [p for p in paths if special_root(p)]
    if refused:
        QMessageBox.warning(
            parent, dialog.windowTitle(),
            f"{refused[0]} is on {special_root(refused[0])}, a special file system: choose a file elsewhere.",
        )  # fmt: skip
        return []
    return paths


def get_save_file_name(parent: QWidget | None, title: str, start: str, filters: str, selected: str) -> tuple[str, str]:
    """(path, chosen filter) as QFileDialog.getSaveFileName, or ("", "") when cancelled or refused."""
    dialog = file_dialog(parent, title, os.path.dirname(start) or os.getcwd(), QFileDialog.FileMode.AnyFile)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilters(filters.split(";;"))
    dialog.selectNameFilter(selected)
    dialog.selectFile(os.path.basename(start))
    paths = _chosen(parent, dialog)
    return (paths[0], dialog.selectedNameFilter()) if paths else ("", "")


def get_existing_directory(parent: QWidget | None, title: str) -> str:
    dialog = file_dialog(parent, title, os.getcwd(), QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly)
    paths = _chosen(parent, dialog)
    return paths[0] if paths else ""


def get_open_file_names(parent: QWidget | None, title: str, pattern: str) -> list[str]:
    dialog = file_dialog(parent, title, os.getcwd(), QFileDialog.FileMode.ExistingFiles)
    dialog.setNameFilter(pattern)
    return _chosen(parent, dialog)


def get_open_file_name(parent: QWidget | None, title: str, pattern: str) -> str:
    """One existing file, or "" when cancelled."""
    dialog = file_dialog(parent, title, os.getcwd(), QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilter(pattern)
    chosen = _chosen(parent, dialog)
    return chosen[0] if chosen else ""


def explain_load_failure(parent: QWidget | None, download: bool, what: str, reason: str) -> None:
    """Say in plain words why a source did not open, and what to do next."""
    if download:
        text = (
            f"CIFAR-10 could not be downloaded.\n\nReason: {reason}\n\n"
            f"Without a network here: download “CIFAR-10 python version” (cifar-10-python.tar.gz, about 170 MB) "
            f"from {CIFAR_URL} on another computer, unpack it, copy the cifar-10-batches-py folder here, and open "
            "that folder with File > Open folder…"
        )
    else:
        text = f"{what} could not be opened.\n\nReason: {reason}"
    QMessageBox.warning(parent, "CNN Feature Explorer", text)
