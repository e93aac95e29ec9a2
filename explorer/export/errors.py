"""The one error the figure export raises: a request or a file it cannot honour, named in the message."""

from __future__ import annotations

from explorer.core.errors import ExplorerError


class ExportError(ExplorerError):
    """A figure that cannot be made or written; the message starts with the value or path at fault."""
