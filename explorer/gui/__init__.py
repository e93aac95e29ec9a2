"""The desktop window: panes that mirror state, one controller, one worker thread that owns the model."""
