"""The one error an analysis raises: a request it cannot honour, named in the message."""

from __future__ import annotations

from explorer.core.errors import ExplorerError


class AnalysisError(ExplorerError):
    """A request that cannot be computed on this model and these images; the message starts with the value at fault."""
