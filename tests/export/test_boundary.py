"""The export layer is Qt-free and pyplot-free, so the window and headless runs share it safely."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_export_imports_no_qt_and_no_pyplot():
    code = (
        "import sys, explorer.export, explorer.commands.export; "
        "bad = [m for m in ('PySide6', 'pyqtgraph', 'explorer.gui', 'matplotlib.pyplot') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""
