"""Sanity: do the pictures depend on what the model learned? The cascading randomization, and RISE's curves."""

from explorer.gui.views.sanity.view import SanityView

__all__ = ["SanityView"]
