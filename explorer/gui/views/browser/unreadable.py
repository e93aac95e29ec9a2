"""The notice that names the files a set could not read, and why."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence

SHOWN = 5  # reasons spelled out in the notice; the tooltip holds them all


def _short(reason: str, path: str | None) -> str:
    """The reason with the file's folder dropped: the notice is one line per file, not per path."""
    if path and reason.startswith(path):
        return os.path.basename(path) + reason[len(path) :]
    return reason


def unreadable_lines(
    reasons: Mapping[int, str], paths: Sequence[str] | None, skipped: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """One line per file that could not be read: decoded ones by image number, then files skipped when listing."""
    lines = [_short(r, paths[i] if paths is not None else None) for i, r in sorted(reasons.items())]
    return lines + [f"{os.path.basename(p)}: {why}" for p, why in skipped]


def unreadable_notice(lines: Sequence[str]) -> tuple[str, str]:
    """(notice text, tooltip with every reason) for the files in `lines`; ("", "") when there are none."""
    if not lines:
        return "", ""
    n = len(lines)
    head = f"{n} file{'s' if n != 1 else ''} could not be read: marked ⚠ in Images, with no prediction, and left out of accuracy and filters."
    listed = "<br>".join(f"• {html.escape(line)}" for line in lines[:SHOWN])
    more = f"<br>… and {n - SHOWN} more (hover for all)" if n > SHOWN else ""
    return f"{head}<br>{listed}{more}", "\n".join(lines)
