"""run_app: the window's entry point for `cnn-explorer` with no subcommand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from explorer.core.checkpoint import load_model
from explorer.core.device import resolve_device
from explorer.core.errors import ExplorerError
from explorer.gui.main_window import MainWindow
from explorer.gui.settings import APPLICATION, ORGANIZATION, open_settings

EXIT_FATAL = 2


def run_app(args: argparse.Namespace) -> int:
    """Open the window on args.data/split (None: the last used), args.checkpoint and args.device; exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    try:
        device = resolve_device(args.device)
        model = load_model(args.checkpoint, device)
    except ExplorerError as exc:
        hint = (
            ""
            if args.checkpoint
            else "\n\nTrain one with `cnn-explorer train --out FILE`, then pass --checkpoint FILE."
        )
        QMessageBox.critical(None, "CNN Feature Explorer", f"The model could not be loaded:\n{exc}{hint}")
        return EXIT_FATAL
    name = Path(args.checkpoint).name if args.checkpoint else "bundled"
    window = MainWindow(model, device, open_settings(), model_name=name, source=args.data, split=args.split)
    window.show()
    return app.exec()
