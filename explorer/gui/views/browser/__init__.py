"""The image browser: the open images as thumbnails with their predictions, filters, and the split."""

from explorer.gui.views.browser.view import BrowserView

__all__ = ["BrowserView"]
