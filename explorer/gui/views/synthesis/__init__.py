"""Synthesized images: an input optimized to drive the selected feature hardest (activation maximization)."""

from explorer.gui.views.synthesis.view import SynthesisView

__all__ = ["SynthesisView"]
