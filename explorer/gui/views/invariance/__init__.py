"""Invariance: how far each layer's output and the prediction move as the image is shifted, scaled or rotated."""

from explorer.gui.views.invariance.view import InvarianceView

__all__ = ["InvarianceView"]
