"""Layer and feature: the model switcher, the layer with its shape, the feature; opening models."""

from explorer.gui.views.choices.view import ChoicesView

__all__ = ["ChoicesView"]
