"""Measurements behind `cnn-explorer bench` (a command, never a timed test)."""
