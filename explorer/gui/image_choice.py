"""Which images a "Feature across images" figure holds: the page shown, the browser's whole filter, or a range."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QInputDialog, QWidget

from explorer.analyses.selection import parse_indices
from explorer.core.errors import ExplorerError

MOST = 400  # images in one figure: more makes a page no one can read
PAGE, FILTER, RANGE = "the page shown", "every image the browser's filter shows", "a range of images…"


def chosen_images(
    choice: str, page: Sequence[int], filtered: Sequence[int], total: int, text: str = ""
) -> tuple[int, ...]:
    """The images of `choice`; raises ExplorerError (one line) for a bad range or too many images."""
    if choice == PAGE:
        images = tuple(page)
    elif choice == FILTER:
        images = tuple(int(i) for i in filtered)
    else:
        images = parse_indices(text, total, "images")
    if not images:
        raise ExplorerError("no images chosen")
    if len(images) > MOST:
        raise ExplorerError(
            f"{len(images):,} images chosen; a figure holds at most {MOST} (use a step, e.g. 0:{total}:{-(-total // MOST)})"
        )
    return images


def ask_images(parent: QWidget, page: Sequence[int], filtered: Sequence[int], total: int) -> tuple[int, ...] | None:
    """Ask which images to export; None when cancelled. Raises ExplorerError for a bad answer."""
    items = [f"{PAGE} ({len(page)})", f"{FILTER} ({len(filtered):,})", RANGE]
    item, ok = QInputDialog.getItem(parent, "Feature across images", "Export which images?", items, 0, False)
    if not ok:
        return None
    choice = next(c for c in (PAGE, FILTER, RANGE) if item.startswith(c))
    text = ""
    if choice == RANGE:
        text, ok = QInputDialog.getText(
            parent, "Feature across images", f"Images, as start:stop:step or a list (0..{total - 1}):", text="0:16"
        )
        if not ok:
            return None
    return chosen_images(choice, page, filtered, total, text)
