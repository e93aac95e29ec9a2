"""Backpropagation: one conv input element's delta counted on fingers (the kernel turned 180 degrees)."""

from explorer.gui.views.backprop.view import BackpropView

__all__ = ["BackpropView"]
