"""The analyses are Qt-free and matplotlib-free, and the renderers load matplotlib only when they draw."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _loaded(imports: str, watched: tuple[str, ...]) -> list[str]:
    code = (
        f"import sys, {imports}; "
        f"print(','.join(m for m in {watched!r} if any(k == m or k.startswith(m + '.') for k in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return [m for m in out.stdout.strip().split(",") if m]


def test_the_analyses_and_the_commands_import_no_qt_and_no_matplotlib():
    imports = "explorer.analyses, explorer.analyses.kinds, explorer.render, explorer.commands.export"
    assert _loaded(imports, ("PySide6", "pyqtgraph", "explorer.gui", "matplotlib")) == []


def test_the_colour_rules_import_neither_matplotlib_nor_torch():
    """The window colours its tiles with them before it has drawn a single figure."""
    assert _loaded("explorer.analyses.colours", ("matplotlib", "pyqtgraph", "torch")) == []
