"""Projection: the selected feature projected down to pixels (deconvnet, guided backprop, gradient)."""

from explorer.gui.views.projection.view import ProjectionView

__all__ = ["ProjectionView"]
