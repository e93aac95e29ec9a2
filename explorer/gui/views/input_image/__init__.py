"""Input image: the image with the feature's receptive field or an occlusion map over it."""

from explorer.gui.views.input_image.view import InputImageView

__all__ = ["InputImageView"]
