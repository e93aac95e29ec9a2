"""Every menu action and keyboard shortcut, declared in one place."""

from __future__ import annotations

from collections.abc import Callable
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


EXPORT_MENU = "&File/&Export figure"  # a "/" makes a submenu

ACTIONS = (
    ActionInfo(
        "open_model",
        "Open &model…",
        "&File",
        "Ctrl+M",
        "Open a model: a checkpoint plus its architecture (bundled, torchvision:NAME, FILE.py:CLASS) or a model card",
    ),
    ActionInfo(
        "open_folder",
        "Open &folder…",
        "&File",
        QKeySequence.StandardKey.Open,
        "Open a folder of images (class folders or flat)",
    ),
    ActionInfo("open_files", "Open f&iles…", "&File", None, "Open some image files"),
    ActionInfo(
        "download_cifar10",
        "&Download CIFAR-10",
        "&File",
        None,
        "Download CIFAR-10 (about 170 MB) into the cache and open it",
    ),
    ActionInfo("open_probes", "Open &probe patterns", "&File", None, "The built-in gratings, edges and colour patches"),
    ActionInfo(
        "open_scan",
        "Open &scan results…",
        "&File",
        None,
        "Show a top-images scan made elsewhere (cnn-explorer scan --out, e.g. with torchrun on a cluster)",
    ),
    ActionInfo(
        "export_maps", "&Activation maps…", EXPORT_MENU, None, "Every activation map of this image, as a figure"
    ),
    ActionInfo("export_projections", "&Projections…", EXPORT_MENU, None, "Every feature's projection for this image"),
    ActionInfo(
        "export_feature", "&Feature across images…", EXPORT_MENU, None, "This feature across the page of images"
    ),
    ActionInfo("export_topk", "&Top images…", EXPORT_MENU, None, "The top images of 16 features from the selected one"),
    ActionInfo("quit", "&Quit", "&File", QKeySequence.StandardKey.Quit),
    ActionInfo("next_feature", "Next feature", "&Navigate", "Right"),
    ActionInfo("previous_feature", "Previous feature", "&Navigate", "Left"),
    ActionInfo("previous_layer", "Previous layer", "&Navigate", "Up"),
    ActionInfo("next_layer", "Next layer", "&Navigate", "Down"),
    ActionInfo("next_image", "Next image", "&Navigate", "PgDown"),
    ActionInfo("previous_image", "Previous image", "&Navigate", "PgUp"),
    ActionInfo(
        "find_top_images",
        "Find &top images",
        "&Analyse",
        "Ctrl+T",
        "Scan the images for each feature's top k images, both layers at once (k in the Top images pane)",
    ),
    ActionInfo("cancel_scan", "&Cancel scan", "&Analyse", None, "Stop the running scan; nothing is cached"),
    ActionInfo(
        "open_backprop",
        "&Backpropagation through a conv layer",
        "&Analyse",
        "Ctrl+B",
        "Count one input element's delta on fingers: delta x weight over the outputs it fed, the kernel turned 180°",
    ),
    ActionInfo(
        "open_synthesis",
        "&Synthesized images (what a feature wants to see)",
        "&Analyse",
        "Ctrl+Y",
        "Optimize an input to drive the selected feature hardest, live; and every feature of the layer",
    ),
    ActionInfo(
        "open_occlusion",
        "&Occlusion sensitivity",
        "&Analyse",
        None,
        "Slide a grey square over the image: p(class), the feature's map sum and the top class at each position",
    ),
    ActionInfo(
        "open_evolution",
        "Feature &evolution over training",
        "&Analyse",
        None,
        "Each feature's strongest activation and its projection at every training snapshot",
    ),
    ActionInfo(
        "open_invariance",
        "&Invariance to shifts, scale and rotation",
        "&Analyse",
        None,
        "How far each layer's output and the prediction move as the image is shifted, scaled or rotated",
    ),
    ActionInfo("reset_layout", "&Reset layout", "&View"),
    ActionInfo(
        "copy_view",
        "&Copy the view under the mouse",
        "&View",
        QKeySequence.StandardKey.Copy,
        "Copy the picture or plot under the mouse pointer to the clipboard, as an image",
    ),
    ActionInfo("shortcuts", "&Keyboard shortcuts", "&Help", QKeySequence.StandardKey.HelpContents),
    ActionInfo("about", "&About", "&Help", None, "Versions, device, model and data"),
)

MOUSE = (  # what the mouse does over the views, for Help > Keyboard shortcuts
    ("wheel over a view", "next / previous feature"),
    ("Ctrl + wheel over a picture", "zoom about the mouse"),
    ("Ctrl + drag on a picture", "pan"),
    ("right click on a picture", "show the whole picture again"),
    ("click a map, pair or feature", "select it"),
)


def shortcut_rows() -> list[tuple[str, str]]:
    """(keys, what they do) for every action with a shortcut, then the mouse gestures."""
    rows = [
        (QKeySequence(info.shortcut).toString(QKeySequence.SequenceFormat.NativeText), info.text.replace("&", ""))
        for info in ACTIONS
        if info.shortcut is not None
    ]
    return [row for row in rows if row[0]] + list(MOUSE)  # a standard key this platform leaves unbound is left out


def build_actions(
    window: QMainWindow, handlers: dict[str, Callable[[], None]]
) -> tuple[dict[str, QAction], dict[str, QMenu]]:
    """Create the actions in the window's menus; shortcuts work wherever focus is in the window."""
    menus: dict[str, QMenu] = {}
    actions = {}
    for info in ACTIONS:
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
