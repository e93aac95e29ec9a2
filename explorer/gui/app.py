"""run_app: the window's entry point for `cnn-explorer` with no subcommand."""

from __future__ import annotations

import argparse
import os
import sys

import torch
from PySide6.QtWidgets import QApplication, QMessageBox

from explorer.core.device import resolve_device
from explorer.core.errors import ExplorerError
from explorer.core.loading import load_model
from explorer.core.model_info import model_info
from explorer.gui.controller import still_running
from explorer.gui.main_window import MainWindow
from explorer.gui.settings import APPLICATION, ORGANIZATION, open_settings

EXIT_FATAL = 2


def run_app(args: argparse.Namespace) -> int:
    """Open the window on args.data/split (None: the last used), the model of add_model_args, args.device; exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    device, device_notice = gui_device(args.device)
    try:
        model = load_model(
            getattr(args, "model", None) or "seednet", args.checkpoint, device,
            num_classes=getattr(args, "num_classes", None), input_size=getattr(args, "input_size", None),
            mean=getattr(args, "mean", None), std=getattr(args, "std", None),
        )  # fmt: skip
    except ExplorerError as exc:
        hint = (
            ""
            if args.checkpoint or getattr(args, "model", None)
            else "\n\nTrain one with `cnn-explorer train --out FILE`, then pass --checkpoint FILE."
        )
        QMessageBox.critical(None, "CNN Feature Explorer", f"The model could not be loaded:\n{exc}{hint}")
        return EXIT_FATAL
    window = MainWindow(
        model, device, open_settings(), model_name=model_info(model).name, checkpoint=args.checkpoint,
        source=args.data, split=args.split, device_notice=device_notice,
    )  # fmt: skip
    window.show()
    code = app.exec()
    if still_running():
        # A thread that ignored the stop (blocked in a system call) must not hold the exit up, and Qt
        # aborts when a running QThread is destroyed: end the process here, files and streams flushed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def gui_device(choice: str) -> tuple[torch.device, str]:
    """The device to run on and a notice to show: asked for CUDA without a GPU, the window runs on the CPU."""
    try:
        return resolve_device(choice), ""
    except ExplorerError as exc:
        return torch.device("cpu"), f"Running on the CPU: {str(exc).split(': ', 1)[-1].split(' (')[0]}."
