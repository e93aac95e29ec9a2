"""The bundled trained models and their training snapshots (package data)."""
