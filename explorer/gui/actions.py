"""Menu actions and keyboard shortcuts: how they are declared and built, and the window's own.

Each view declares its own actions (View.actions) beside its code; the window's own (opening images,
layout, help) are here. `order` places an action within its menu.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


@dataclass(frozen=True)
class ActionInfo:
    key: str
    text: str
    menu: str
    shortcut: str | QKeySequence.StandardKey | None = None
    tip: str = ""
    order: int = 50  # within its menu, smaller first


MENUS = ("&File", "&File/&Export figure", "&Navigate", "&Analyse", "&View", "&Help")  # in the menu bar's order


EXPORT_MENU = "&File/&Export figure"  # a "/" makes a submenu

ACTIONS = (  # the window's own; the views add theirs
    ActionInfo(
        "open_folder", "Open &folder…", "&File", QKeySequence.StandardKey.Open,
        "Open a folder of images (class folders or flat)", 20,
    ),
    ActionInfo("open_files", "Open f&iles…", "&File", None, "Open some image files", 21),
    ActionInfo(
        "download_cifar10", "&Download CIFAR-10", "&File", None,
        "Download CIFAR-10 (about 170 MB) into the cache and open it", 22,
    ),
    ActionInfo(
        "open_probes", "Open &probe patterns", "&File", None, "The built-in gratings, edges and colour patches", 23
    ),
    ActionInfo("quit", "&Quit", "&File", QKeySequence.StandardKey.Quit, order=90),
    ActionInfo("reset_layout", "&Reset layout", "&View", order=10),
    ActionInfo(
        "copy_view", "&Copy the view under the mouse", "&View", QKeySequence.StandardKey.Copy,
        "Copy the picture or plot under the mouse pointer to the clipboard, as an image", 20,
    ),
    ActionInfo("shortcuts", "&Keyboard shortcuts", "&Help", QKeySequence.StandardKey.HelpContents, order=10),
    ActionInfo("about", "&About", "&Help", None, "Versions, device, model and data", 20),
)  # fmt: skip

PANE_KEYS = (  # keys a pane answers while it has the focus (no menu holds them), for Help > Keyboard shortcuts
    ("[  /  ]", "previous / next output channel, in the Backpropagation pane (when it has the focus)"),
)

MOUSE = (  # what the mouse does over the views, for Help > Keyboard shortcuts
    ("wheel over a view", "next / previous feature"),
    ("Ctrl + wheel over a picture", "zoom about the mouse"),
    ("Ctrl + drag on a picture", "pan"),
    ("right click on a picture", "show the whole picture again"),
    ("click a map, pair or feature", "select it"),
)


def in_menu_order(infos: Sequence[ActionInfo]) -> list[ActionInfo]:
    """`infos` as the menus list them: by menu (MENUS first, then others as they come), then by order."""
    menus = list(MENUS) + [info.menu for info in infos if info.menu not in MENUS]
    return sorted(infos, key=lambda info: (menus.index(info.menu), info.order))


def shortcut_rows(infos: Sequence[ActionInfo]) -> list[tuple[str, str]]:
    """(keys, what they do) for every action of `infos` with a shortcut, then the keys of a focused pane, then the
    mouse gestures."""
    rows = [
        (QKeySequence(info.shortcut).toString(QKeySequence.SequenceFormat.NativeText), info.text.replace("&", ""))
        for info in in_menu_order(infos)
        if info.shortcut is not None
    ]
    return (
        [row for row in rows if row[0]] + list(PANE_KEYS) + list(MOUSE)
    )  # a standard key this platform leaves unbound is left out


def build_actions(
    window: QMainWindow, infos: Sequence[ActionInfo], handlers: dict[str, Callable[[], None]]
) -> tuple[dict[str, QAction], dict[str, QMenu]]:
    """Create the actions in the window's menus; shortcuts work wherever focus is in the window."""
    menus: dict[str, QMenu] = {}
    actions = {}
    for info in in_menu_order(infos):
        if info.menu not in menus:
            parent, _, sub = info.menu.rpartition("/")
            menus[info.menu] = menus[parent].addMenu(sub) if parent else window.menuBar().addMenu(info.menu)
        action = QAction(info.text, window)
        if info.shortcut is not None:
            action.setShortcut(QKeySequence(info.shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(info.tip)
        action.triggered.connect(handlers[info.key])
        menus[info.menu].addAction(action)
        actions[info.key] = action
    return actions, menus
