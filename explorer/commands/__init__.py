"""Subcommands of cnn-explorer, each a module with main(argv) -> exit code."""
