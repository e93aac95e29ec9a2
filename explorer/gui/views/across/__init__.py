"""Feature across images: the selected feature's projection on a page of the browser's images."""

from explorer.gui.views.across.view import AcrossView

__all__ = ["AcrossView"]
