"""Top images: each feature's strongest image patches from a scan of the open images, with projections."""

from explorer.gui.views.top_images.view import TopImagesView

__all__ = ["TopImagesView"]
