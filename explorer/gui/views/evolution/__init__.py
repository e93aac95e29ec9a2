"""Feature evolution: each feature's strongest activation and projection at every training snapshot."""

from explorer.gui.views.evolution.view import EvolutionView

__all__ = ["EvolutionView"]
