"""The window's panes: each shows state and emits intent signals; none touches the model."""
