"""Attribution: the chosen class's activation map over the image, beside its gradient, guided and deconvnet pictures."""

from explorer.gui.views.attribution.view import AttributionView

__all__ = ["AttributionView"]
