"""Index selections as people type them ("7", "0:16", "0:256:4", "1,5,9") and as titles show them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from explorer.analyses.errors import AnalysisError
from explorer.core.whole_numbers import whole_number

SELECTION_USAGE = "use N, A:B, A:B:STEP or N,M,..."


def whole_index(part: str, flag: str, text: str, usage: str = "") -> int:
    """`part` of `text` (the value of `flag`) as an index, 0 or more; else an AnalysisError naming the flag and
    the text, with `usage` (how to write the value) in brackets when given."""
    try:
        value = whole_number(part)
    except ValueError as exc:
        raise AnalysisError(f"{flag} {text}: {exc}" + (f" ({usage})" if usage else "")) from None
    if value < 0:
        raise AnalysisError(f"{flag} {text}: {value} is negative (indices start at 0)")
    return value


def _range(part: str, count: int, flag: str, text: str) -> list[int]:
    pieces = part.split(":")
    if len(pieces) > 3:
        raise AnalysisError(f"{flag} {text}: {part!r} has too many ':' (use A:B or A:B:STEP)")
    start = whole_index(pieces[0], flag, text, SELECTION_USAGE) if pieces[0].strip() else 0
    stop = whole_index(pieces[1], flag, text, SELECTION_USAGE) if pieces[1].strip() else count
    step = whole_index(pieces[2], flag, text, SELECTION_USAGE) if len(pieces) == 3 and pieces[2].strip() else 1
    if step == 0:
        raise AnalysisError(f"{flag} {text}: the step must be at least 1")
    if stop > count:
        raise AnalysisError(f"{flag} {text}: {stop} is past the end (valid indices: 0..{count - 1})")
    return list(range(start, stop, step))


def parse_indices(text: str, count: int, flag: str = "--features") -> tuple[int, ...]:
    """Indices into `count` things from N, A:B (end exclusive, A or B may be left out), A:B:STEP, or commas.

    Raises AnalysisError naming the flag and the text for bad syntax, an index out of range, or an
    empty selection.
    """
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise AnalysisError(f"{flag} {text}: empty item ({SELECTION_USAGE})")
        if ":" in part:
            out.extend(_range(part, count, flag, text))
            continue
        value = whole_index(part, flag, text, SELECTION_USAGE)
        if value >= count:
            raise AnalysisError(f"{flag} {text}: {value} is out of range 0..{count - 1}")
        out.append(value)
    if not out:
        raise AnalysisError(f"{flag} {text}: selects nothing")
    return tuple(out)


def parse_index(text: str, count: int, flag: str) -> int:
    """Exactly one index into `count` things."""
    value = whole_index(text.strip(), flag, text, SELECTION_USAGE)
    if value >= count:
        raise AnalysisError(f"{flag} {text}: {value} is out of range 0..{count - 1}")
    return value


def check_indices(indices: Sequence[int], count: int, what: str) -> tuple[int, ...]:
    """The indices as a tuple of ints, or AnalysisError when one is outside 0..count-1 or none is given."""
    out = tuple(int(i) for i in indices)
    if not out:
        raise AnalysisError(f"no {what} selected")
    bad = [i for i in out if not 0 <= i < count]
    if bad:
        raise AnalysisError(f"{what} {bad[0]} is out of range 0..{count - 1}")
    return out


def describe_indices(indices: Sequence[int]) -> str:
    """A short text for a selection: "0-15", "0-30 step 2", or "1, 5, 9"."""
    idx = [int(i) for i in indices]
    if len(idx) == 1:
        return str(idx[0])
    step = idx[1] - idx[0]
    if len(idx) > 2 and step > 0 and all(b - a == step for a, b in itertools.pairwise(idx)):
        return f"{idx[0]}-{idx[-1]}" + (f" step {step}" if step > 1 else "")
    if len(idx) == 2:
        return f"{idx[0]}, {idx[1]}"
    shown = ", ".join(str(i) for i in idx[:6])
    return shown + (f", ... ({len(idx)} in all)" if len(idx) > 6 else "")
