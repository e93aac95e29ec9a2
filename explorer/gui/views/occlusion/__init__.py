"""Occlusion sensitivity: a grey square slid over the image; p(class), the feature's map sum, the top class."""

from explorer.gui.views.occlusion.view import OcclusionView

__all__ = ["OcclusionView"]
