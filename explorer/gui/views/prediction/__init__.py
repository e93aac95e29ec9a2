"""Prediction: the model's class probabilities for the selected image."""

from explorer.gui.views.prediction.view import PredictionView

__all__ = ["PredictionView"]
