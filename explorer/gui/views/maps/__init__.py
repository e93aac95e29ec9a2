"""Activation maps: every map of the selected layer for the selected image, the feature's map large."""

from explorer.gui.views.maps.view import MapsView

__all__ = ["MapsView"]
